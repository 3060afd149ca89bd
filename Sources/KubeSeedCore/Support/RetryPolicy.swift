/// When a request to the API server is sent again: a server that is busy for a moment (a restart, an
/// etcd leader election, an overloaded host) should not fail a `seed init` or a join. Only requests
/// that may be sent twice are: GET, PUT and DELETE (a PUT carries the resourceVersion it read, and a
/// DELETE that already happened answers 404).
public struct RetryPolicy: Sendable, Equatable {
    /// How many times a request is sent at most (1: never again).
    public var attempts: Int
    /// The pause before the second attempt; each later pause is twice the one before.
    public var firstPause: Duration

    public init(attempts: Int, firstPause: Duration) {
        self.attempts = max(1, attempts)
        self.firstPause = firstPause
    }

    /// Sent once: a caller with a loop of its own (a readiness wait, etcd's membership calls).
    public static let none = RetryPolicy(attempts: 1, firstPause: .zero)
    /// Four attempts, 1, 2 and 4 s apart.
    public static let transient = RetryPolicy(attempts: 4, firstPause: .seconds(1))

    /// Statuses that say "not now" rather than "no": too many requests, and a server, gateway or
    /// backend (etcd) that did not manage to answer.
    public static let transientStatuses: Set<Int> = [429, 500, 502, 503, 504]

    public static func mayResend(_ method: APIRequest.Method) -> Bool {
        switch method {
        case .get, .put, .delete: true
        case .post, .patch: false
        }
    }

    /// The pause before attempt `attempt` (counted from 1); `nil` once the attempts are spent.
    public func pause(before attempt: Int) -> Duration? {
        guard attempt >= 2, attempt <= attempts else { return nil }
        return firstPause * (1 << min(attempt - 2, 16))
    }

    /// The pause before sending `method` again after attempt `attempt - 1` answered `status` (`nil`:
    /// no answer at all); `nil`: the answer stands.
    public func pause(before attempt: Int, method: APIRequest.Method, status: Int?) -> Duration? {
        guard Self.mayResend(method), status.map(Self.transientStatuses.contains) ?? true else { return nil }
        return pause(before: attempt)
    }
}
