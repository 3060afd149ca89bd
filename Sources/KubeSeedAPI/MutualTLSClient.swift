import AsyncHTTPClient
import Foundation
import KubeSeedCore
import NIOCore
import NIOSSL
import Synchronization

/// Errors talking to the API server or etcd. The message names what was asked and of whom.
public struct APIError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// The CA, certificate or key could not be loaded.
        case credentials
        /// No TLS connection (refused, timed out, handshake failed).
        case unreachable
        /// The server answered with a status the caller cannot accept.
        case status
        /// A readiness wait ran out of time.
        case timeout
        /// The answer was larger than the client reads (4 MiB).
        case tooLarge
    }

    public var code: Code
    public var message: String
    public var cause: String?
    /// The HTTP status a `.status` error carries, when it came from one answer.
    public var httpStatus: Int?

    public init(_ code: Code, _ message: String, cause: String? = nil, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
        self.httpStatus = httpStatus
    }

    /// The server did not manage to answer (no connection, no answer in time, or a transient status
    /// after the retries): asking later may succeed, unlike a refusal.
    public var isNoAnswer: Bool {
        code == .unreachable || (code == .status && httpStatus.map(RetryPolicy.transientStatuses.contains) == true)
    }

    public var description: String { cause.map { "\(message) (\($0))" } ?? message }
}

/// A CA to trust and a client certificate and key to present (PEM).
public struct TLSIdentity: Sendable {
    public var caPEM: String
    public var certificatePEM: String
    public var keyPEM: String

    public init(caPEM: String, certificatePEM: String, keyPEM: String) {
        self.caPEM = caPEM
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
    }
}

/// An HTTPS client with mutual TLS for one server (the API server or an etcd member), on AsyncHTTPClient.
/// The server's certificate must chain to the given CA and name the host in `baseURL`.
/// Call `shutdown()` when done; a client dropped without it (an error path that skipped it) closes its
/// connections as it goes away, instead of leaking them or, in a debug build, stopping the process.
public final class MutualTLSClient: APIClient {
    public let baseURL: String
    let client: HTTPClient
    private let isShutDown = Atomic<Bool>(false)

    public struct Response: Sendable {
        public var status: Int
        public var body: Data

        public init(status: Int, body: Data) {
            self.status = status
            self.body = body
        }

        /// The `message` of a Kubernetes `Status` body, or the start of the body.
        public var message: String {
            if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let message = object["message"] as? String {
                return Validate.printable(message)
            }
            let text = String(decoding: body.prefix(4096), as: UTF8.self)
            // A health endpoint's verbose answer: the checks that failed ("[-]etcd failed: …") say why.
            let failing = text.split(separator: "\n").filter { $0.hasPrefix("[-]") }
            if !failing.isEmpty { return Validate.printable(failing.prefix(4).joined(separator: "; ")) }
            return Validate.printable(String(text.prefix(200)))
        }
    }

    /// `readTimeout`: the longest silence on a connection (a watch is silent between events);
    /// `idleTimeout`: how long an unused connection is kept for the next request.
    public init(baseURL: String, identity: TLSIdentity, connectTimeout: Duration = .seconds(3), readTimeout: Duration = .seconds(30),
                idleTimeout: Duration = .seconds(10)) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(identity.caPEM.utf8)))
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.keyPEM.utf8), format: .pem))
        } catch {
            throw APIError(.credentials, "cannot load the TLS credentials for \(baseURL)", cause: "\(error)")
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .milliseconds(connectTimeout.milliseconds), read: .milliseconds(readTimeout.milliseconds))
        configuration.connectionPool = .init(idleTimeout: .milliseconds(idleTimeout.milliseconds))
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Sends one request and reads the whole answer (at most 4 MiB). Any HTTP status is returned;
    /// only a failure to talk at all throws. A request that may be sent twice is sent again after a
    /// transient status or no answer, as `retry` says; the last answer or failure is the result.
    public func send(_ request: APIRequest, timeout: Duration, retry: RetryPolicy) async throws -> Response {
        let timeout = TimeAmount.milliseconds(timeout.milliseconds)
        var attempt = 1
        while true {
            let outcome: Result<Response, APIError>
            do {
                outcome = .success(try await sendOnce(request, timeout: timeout))
            } catch let error as APIError where error.code == .unreachable {
                outcome = .failure(error)
            }
            let status = try? outcome.get().status
            if case .success(let response) = outcome, !RetryPolicy.transientStatuses.contains(response.status) { return response }
            guard let pause = retry.pause(before: attempt + 1, method: request.method, status: status) else { return try outcome.get() }
            try await Task.sleep(for: pause)
            attempt += 1
        }
    }

    func sendOnce(_ request: APIRequest, timeout: TimeAmount) async throws -> Response {
        var http = HTTPClientRequest(url: baseURL + request.path)
        http.method = .init(rawValue: request.method.rawValue)
        http.headers.add(name: "Accept", value: "application/json")
        http.headers.add(name: "User-Agent", value: "kubeseed")
        if let body = request.body {
            http.headers.add(name: "Content-Type", value: request.contentType)
            http.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await client.execute(http, timeout: timeout)
            let buffer = try await response.body.collect(upTo: 4 << 20)
            return Response(status: Int(response.status.code), body: Data(buffer.readableBytesView))
        } catch is NIOTooManyBytesError {
            throw APIError(.tooLarge, "\(request.method.rawValue) \(baseURL)\(request.path): the answer is over 4 MiB")
        } catch {
            throw APIError(.unreachable, "\(request.method.rawValue) \(baseURL)\(request.path) failed", cause: "\(error)")
        }
    }

    /// Sends one request whose answer is a stream of lines (a watch). A 200 answer is handed to `line`
    /// one newline-terminated line at a time (each at most 4 MiB) until the server ends it; any other
    /// status is returned with its body. Only a failure to talk at all throws.
    /// A line longer than `maximumLine` is not kept: its bytes are dropped up to its end, `oversized` is
    /// told how many there were, and the stream goes on with the next line.
    public func streamLines(_ request: APIRequest, timeout: Duration, maximumLine: Int = 4 << 20, oversized: @Sendable (Int) async -> Void = { _ in },
                            line: @Sendable (Data) async throws -> Void) async throws -> Response {
        let timeout = TimeAmount.milliseconds(timeout.milliseconds)
        var http = HTTPClientRequest(url: baseURL + request.path)
        http.method = .init(rawValue: request.method.rawValue)
        http.headers.add(name: "Accept", value: "application/json")
        http.headers.add(name: "User-Agent", value: "kubeseed")
        let response: HTTPClientResponse
        do {
            response = try await client.execute(http, timeout: timeout)
        } catch {
            throw APIError(.unreachable, "\(request.method.rawValue) \(baseURL)\(request.path) failed", cause: "\(error)")
        }
        guard response.status == .ok else {
            let buffer = try await response.body.collect(upTo: 4 << 20)
            return Response(status: Int(response.status.code), body: Data(buffer.readableBytesView))
        }
        // What `line` throws reaches the caller as it is; only a broken stream is wrapped.
        struct LineFailure: Error { var underlying: any Error }
        var pending = Data()
        // Bytes of an oversized line dropped so far (0: not inside one).
        var dropped = 0
        do {
            for try await chunk in response.body {
                var bytes = Data(chunk.readableBytesView)
                if dropped > 0 {
                    guard let end = bytes.firstIndex(of: 0x0A) else { dropped += bytes.count; continue }
                    dropped += end - bytes.startIndex
                    await oversized(dropped)
                    dropped = 0
                    bytes = Data(bytes[(end + 1)...])
                }
                pending.append(bytes)
                while let end = pending.firstIndex(of: 0x0A) {
                    let text = pending[pending.startIndex..<end]
                    pending = Data(pending[(end + 1)...])
                    if !text.isEmpty {
                        if text.count > maximumLine { await oversized(text.count); continue }
                        do { try await line(Data(text)) } catch { throw LineFailure(underlying: error) }
                    }
                }
                if pending.count > maximumLine {
                    dropped = pending.count
                    pending = Data()
                }
            }
        } catch let failure as LineFailure {
            throw failure.underlying
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.unreachable, "\(request.method.rawValue) \(baseURL)\(request.path): the stream broke", cause: "\(error)")
        }
        if dropped > 0 { await oversized(dropped) } else if !pending.isEmpty { try await line(pending) }
        return Response(status: 200, body: Data())
    }

    /// Closes the connections, before the client goes away; a second call does nothing.
    public func shutdown() async {
        guard !isShutDown.exchange(true, ordering: .relaxed) else { return }
        try? await client.shutdown()
    }

    deinit {
        // The pool keeps the HTTPClient until its connections are closed, so its own deinit sees it shut down.
        if !isShutDown.load(ordering: .relaxed) { client.shutdown { _ in } }
    }
}
