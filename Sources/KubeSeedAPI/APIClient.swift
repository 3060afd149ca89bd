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
    /// Closes the client's connections.
    func shutdown() async
}

extension APIClient {
    /// `send` with a 30 s timeout and transient failures retried.
    public func send(_ request: APIRequest, timeout: Duration = .seconds(30)) async throws -> APIResponse {
        try await send(request, timeout: timeout, retry: .transient)
    }

    /// `send` with a 30 s timeout.
    public func send(_ request: APIRequest, retry: RetryPolicy) async throws -> APIResponse {
        try await send(request, timeout: .seconds(30), retry: retry)
    }
}
