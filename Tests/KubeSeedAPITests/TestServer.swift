import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A real HTTPS server on 127.0.0.1 for contract tests: TLS with a required, verified client
/// certificate; it records every request exactly as received and answers from a script (status 0:
/// no answer, the connection closed).
final class RecordingServer: Sendable {
    struct Request: Sendable, Equatable {
        var method: String
        var uri: String
        var contentType: String?
        var body: Data
        /// DER of the client certificate the TLS handshake verified.
        var clientCertificateDER: [UInt8]?

        var json: NSDictionary? { try? JSONSerialization.jsonObject(with: body) as? NSDictionary }
    }

    typealias Responder = @Sendable (Request) -> (status: Int, body: String)

    private let received = NIOLockedValueBox<[Request]>([])
    private let open = NIOLockedValueBox(0)
    private let channel: Channel
    let port: Int

    var requests: [Request] { received.withLockedValue { $0 } }
    /// Connections from clients that are open now.
    var openConnections: Int { open.withLockedValue { $0 } }

    init(certificatePEM: String, keyPEM: String, clientCAPEM: String, responder: @escaping Responder) async throws {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)))
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(clientCAPEM.utf8)))
        tls.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: tls)
        let received = self.received
        let open = self.open
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                open.withLockedValue { $0 += 1 }
                channel.closeFuture.whenComplete { _ in open.withLockedValue { $0 -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(received: received, responder: responder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func stop() async throws { try await channel.close() }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let received: NIOLockedValueBox<[Request]>
        let responder: Responder
        var head: HTTPRequestHead?
        var body = Data()

        init(received: NIOLockedValueBox<[Request]>, responder: @escaping Responder) {
            self.received = received
            self.responder = responder
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = Data()
            case .body(var buffer):
                body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
            case .end:
                guard let head else { return }
                let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
                let request = Request(method: head.method.rawValue, uri: head.uri, contentType: head.headers.first(name: "Content-Type"),
                                      body: body, clientCertificateDER: try? tls?.peerCertificate?.toDERBytes())
                received.withLockedValue { $0.append(request) }
                let (status, text) = responder(request)
                // Status 0: the connection closes with no answer (an answer lost on the way).
                if status == 0 { context.close(promise: nil); return }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: "\(text.utf8.count)")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
