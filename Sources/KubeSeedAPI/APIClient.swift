import Foundation
import KubeSeedCore

/// An answer from the API server or etcd: its HTTP status and whole body.
public typealias APIResponse = MutualTLSClient.Response

/// What KubeSeed's commands need of a client to the API server or to etcd's JSON gateway: one request,
/// its whole answer. `MutualTLSClient` is the live one; unit tests give the commands in-memory ones
/// (the real API server and etcd tests, and the VM, run the live one).
public protocol APIClient: AnyObject, Sendable {
    /// `https://HOST:PORT`, for messages.
    var baseURL: String { get }
    /// Sends `request` and reads the whole answer; any HTTP status is returned, only a failure to talk
    /// at all throws. A request that may be sent twice is sent again as `retry` says.
    func send(_ request: APIRequest, timeout: Duration, retry: RetryPolicy) async throws -> APIResponse
    /// Sends one request whose answer is a stream of lines (a watch): a 200 answer's lines go to `line` one
    /// at a time until the server ends it (a line over `maximumLine` bytes is dropped and its size told to
    /// `oversized`); any other status is returned with its body. Only a failure to talk at all throws.
    func streamLines(_ request: APIRequest, timeout: Duration, maximumLine: Int, oversized: @Sendable (Int) async -> Void,
                     line: @Sendable (Data) async throws -> Void) async throws -> APIResponse
    /// Closes the client's connections.
    func shutdown() async
}

/// How long a client waits: for a connection, and for the next bytes on one (a watch is silent between events).
public struct APITimeouts: Sendable, Equatable {
    public var connect: Duration
    public var read: Duration

    public init(connect: Duration = .seconds(3), read: Duration = .seconds(30)) {
        self.connect = connect
        self.read = read
    }
}

/// Opens a client to the API server or etcd at a base URL, presenting an identity: the commands' one way to
/// a client. `MutualTLSClient.connect` is the live one; unit tests give in-memory ones.
public typealias APIConnect = @Sendable (_ baseURL: String, _ identity: TLSIdentity, _ timeouts: APITimeouts) throws -> any APIClient

extension MutualTLSClient {
    /// The live `APIConnect`: mutual TLS.
    public static let connect: APIConnect = { baseURL, identity, timeouts in
        try MutualTLSClient(baseURL: baseURL, identity: identity, connectTimeout: timeouts.connect, readTimeout: timeouts.read)
    }
}

extension APIClient {
    /// Runs `body` with this client and shuts the client down after, whether `body` returned or threw.
    public func closing<T>(after body: (Self) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await shutdown()
            return result
        } catch {
            await shutdown()
            throw error
        }
    }

    /// `send` with a 30 s timeout and transient failures retried.
    public func send(_ request: APIRequest, timeout: Duration = .seconds(30)) async throws -> APIResponse {
        try await send(request, timeout: timeout, retry: .transient)
    }

    /// `send` with a 30 s timeout.
    public func send(_ request: APIRequest, retry: RetryPolicy) async throws -> APIResponse {
        try await send(request, timeout: .seconds(30), retry: retry)
    }
}
