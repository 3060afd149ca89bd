import Foundation
import Testing
import X509
@testable import KubeSeedAPI
@testable import KubeSeedCore
@testable import KubeSeedPKI

/// Contract tests: KubeSeed's API client (AsyncHTTPClient, mutual TLS) against a real HTTPS test
/// server on 127.0.0.1 that requires a client certificate and records each request exactly as it
/// arrived. They check the requests `seed init` and `seed join-file` make, byte for byte where the
/// bytes matter, and how answers are read. No Kubernetes here: the VM test and a real API server
/// are where the objects take effect.
@Suite struct ContractTests {
    /// A throwaway cluster PKI (ECDSA, fast): CA, the API server's serving certificate, admin.
    struct PKI {
        let ca: Issuer
        let server: (cert: String, key: String)
        let admin: (cert: String, key: String)
        let adminCertificate: Certificate

        init() throws {
            ca = try Issuer.makeCA(.ecdsaP256)
            let specs = ClusterPKI.specs(PKIParameters(masterIPs: ["127.0.0.1"], etcdIPs: ["127.0.0.1"], serviceCIDR: "10.254.0.0/16",
                                                       clusterDomain: "cluster.local"))
            let (serverCert, serverKey) = try ca.issue(specs.first { $0.name == "kube-apiserver" }!, .ecdsaP256)
            let (adminCert, adminKey) = try ca.issue(specs.first { $0.name == "admin" }!, .ecdsaP256)
            server = (serverCert.pem, serverKey.pem)
            admin = (adminCert.pem, adminKey.pem)
            adminCertificate = adminCert
        }

        var adminIdentity: TLSIdentity { TLSIdentity(caPEM: ca.certificate.pem, certificatePEM: admin.cert, keyPEM: admin.key) }
    }

    func withServer(_ pki: PKI, responder: @escaping RecordingServer.Responder,
                    _ body: (RecordingServer, MutualTLSClient) async throws -> Void) async throws {
        let server = try await RecordingServer(certificatePEM: pki.server.cert, keyPEM: pki.server.key, clientCAPEM: pki.ca.certificate.pem,
                                               responder: responder)
        let client = try MutualTLSClient(baseURL: "https://127.0.0.1:\(server.port)", identity: pki.adminIdentity)
        do {
            try await body(server, client)
        } catch {
            await client.shutdown()
            try await server.stop()
            throw error
        }
        await client.shutdown()
        try await server.stop()
    }

    static func object(_ json: String) -> NSDictionary {
        try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! NSDictionary
    }

    @Test func initCreatesTheBootstrapBindingsAndTokenSecretsExactly() async throws {
        let pki = try PKI()
        let token = BootstrapToken("abcdef.0123456789abcdef")!
        let expires = ISO8601DateFormatter().date(from: "2026-12-01T00:00:00Z")!
        let record = TokenRecord(token: token, expires: expires, node: "worker-1")
        try await withServer(pki, responder: { _ in (201, "{}") }) { server, client in
            var outcomes: [ObjectApplier.Outcome] = []
            for request in BootstrapObjects.initRequests(tokens: [record]) {
                outcomes.append(try await ObjectApplier.apply(request, with: client))
            }
            #expect(outcomes == Array(repeating: .created, count: 6))
            // Each object is looked up by name first (the responder answers 201, not 200: not there).
            let all = server.requests
            #expect(all.map(\.method) == Array(repeating: ["GET", "POST"], count: 6).flatMap { $0 })
            #expect(all.filter { $0.method == "GET" }.map(\.uri).last == "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef")
            let requests = all.filter { $0.method == "POST" }
            #expect(requests.map(\.method) == Array(repeating: "POST", count: 6))
            #expect(requests.map(\.uri) == Array(repeating: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", count: 5)
                + ["/api/v1/namespaces/kube-system/secrets"])
            #expect(requests.allSatisfy { $0.contentType == "application/json" })
            #expect(all.allSatisfy { $0.clientCertificateDER.flatMap { try? Certificate(derEncoded: $0) } == pki.adminCertificate },
                    "every request must present the admin certificate")

            func binding(_ name: String, _ role: String, _ kind: String, _ subject: String) -> NSDictionary {
                Self.object("""
                {"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
                 "metadata":{"name":"\(name)","labels":{"app.kubernetes.io/managed-by":"kubeseed"}},
                 "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"\(role)"},
                 "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"\(kind)","name":"\(subject)"}]}
                """)
            }
            let group = "system:bootstrappers:kubeseed:default-node-token"
            #expect(requests[0].json == binding("kubeseed:kubelet-bootstrap", "system:node-bootstrapper", "Group", group))
            #expect(requests[1].json == binding("kubeseed:node-autoapprove-bootstrap",
                                                "system:certificates.k8s.io:certificatesigningrequests:nodeclient", "Group", group))
            #expect(requests[2].json == binding("kubeseed:node-autoapprove-certificate-rotation",
                                                "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "Group", "system:nodes"))
            #expect(requests[3].json == binding("kubeseed:apiserver-kubelet-client", "system:kubelet-api-admin", "User", "kube-apiserver-kubelet-client"))
            #expect(requests[4].json == binding("kubeseed:node-proxier", "system:node-proxier", "Group", "system:nodes"))
            #expect(requests[5].json == Self.object("""
            {"apiVersion":"v1","kind":"Secret","type":"bootstrap.kubernetes.io/token",
             "metadata":{"name":"bootstrap-token-abcdef","namespace":"kube-system","labels":{"app.kubernetes.io/managed-by":"kubeseed"}},
             "stringData":{"description":"kubeseed join file for worker-1","token-id":"abcdef","token-secret":"0123456789abcdef",
               "expiration":"2026-12-01T00:00:00Z","usage-bootstrap-authentication":"true","usage-bootstrap-signing":"true",
               "auth-extra-groups":"\(group)"}}
            """))
        }
    }

    @Test func existingObjectsAreDoneAndRefusalsAreErrorsWithTheServersMessage() async throws {
        let pki = try PKI()
        try await withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"): return (409, #"{"kind":"Status","message":"already exists"}"#)
            case ("DELETE", "/api/v1/namespaces/kube-system/secrets/bootstrap-token-gone00"): return (404, #"{"kind":"Status","message":"not found"}"#)
            case ("DELETE", _): return (200, "{}")
            default: return (403, #"{"kind":"Status","message":"secrets is forbidden: User \"admin\" cannot create"}"#)
            }
        }) { server, client in
            #expect(try await ObjectApplier.apply(BootstrapObjects.createBinding(BootstrapObjects.bindings[0]), with: client) == .exists)
            #expect(try await ObjectApplier.apply(BootstrapObjects.deleteTokenSecret(id: "gone00"), with: client) == .absent)
            #expect(try await ObjectApplier.apply(BootstrapObjects.deleteTokenSecret(id: "abcdef"), with: client) == .deleted)
            #expect(server.requests.last?.body.isEmpty == true, "a DELETE carries no body")
            let secret = BootstrapObjects.createTokenSecret(BootstrapToken("abcdef.0123456789abcdef")!, expires: Date(), node: "n")
            do {
                _ = try await ObjectApplier.apply(secret, with: client)
                Issue.record("a 403 must throw")
            } catch let error as APIError {
                #expect(error.code == .status)
                #expect(error.description.contains("403") && error.description.contains("forbidden"))
                #expect(!error.description.contains("0123456789abcdef"), "the token secret must not appear in errors")
            }
        }
    }

    @Test func etcdHealthIsReadFromTheBody() async throws {
        let pki = try PKI()
        let healthy = NIOLockedBool(true)
        try await withServer(pki, responder: { request in
            request.uri == "/health" ? (200, healthy.value ? #"{"health":"true","reason":""}"# : #"{"health":"false","reason":"NOSPACE"}"#) : (404, "")
        }) { server, client in
            #expect((try? await Readiness.etcdHealthy(client).get()) != nil)
            healthy.value = false
            let result = await Readiness.etcdHealthy(client)
            guard case .failure(let error) = result else { Issue.record("unhealthy etcd reported healthy"); return }
            #expect(error.code == .status)
            await #expect(throws: APIError.self) {
                try await Readiness.wait(for: "etcd", limit: .milliseconds(300), interval: .milliseconds(100)) { await Readiness.etcdHealthy(client) }
            }
            #expect(server.requests.count >= 3, "the wait must retry")
        }
    }

    @Test func aClientCertificateFromAnotherCAIsRefusedByTheServer() async throws {
        let pki = try PKI()
        let stranger = try PKI()
        try await withServer(pki, responder: { _ in (200, "ok") }) { server, _ in
            let client = try MutualTLSClient(baseURL: "https://127.0.0.1:\(server.port)", identity: TLSIdentity(
                caPEM: pki.ca.certificate.pem, certificatePEM: stranger.admin.cert, keyPEM: stranger.admin.key))
            let result = await Readiness.apiServerReady(client)
            await client.shutdown()
            guard case .failure(let error) = result else { Issue.record("a foreign client certificate was accepted"); return }
            #expect(error.code == .unreachable)
            #expect(server.requests.isEmpty)
        }
    }

    @Test func aServerOutsideTheClusterCAIsNotTrusted() async throws {
        let pki = try PKI()
        let other = try PKI()
        try await withServer(pki, responder: { _ in (200, "ok") }) { server, _ in
            let client = try MutualTLSClient(baseURL: "https://127.0.0.1:\(server.port)", identity: TLSIdentity(
                caPEM: other.ca.certificate.pem, certificatePEM: other.admin.cert, keyPEM: other.admin.key))
            let result = await Readiness.apiServerReady(client)
            await client.shutdown()
            guard case .failure(let error) = result else { Issue.record("an untrusted server was accepted"); return }
            #expect(error.code == .unreachable)
        }
    }

    @Test func badCredentialsAreACredentialsError() {
        do {
            _ = try MutualTLSClient(baseURL: "https://127.0.0.1:1", identity: TLSIdentity(caPEM: "not pem", certificatePEM: "", keyPEM: ""))
            Issue.record("credentials that are not PEM were accepted")
        } catch let error as APIError {
            #expect(error.code == .credentials)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func aClientDroppedWithoutShutdownClosesItsConnections() async throws {
        let pki = try PKI()
        let server = try await RecordingServer(certificatePEM: pki.server.cert, keyPEM: pki.server.key, clientCAPEM: pki.ca.certificate.pem,
                                               responder: { _ in (200, "{}") })
        do {
            // An idle timeout longer than the test: only the drop can close the connection, however long
            // the suite's load keeps this task from running after the answer.
            var client: MutualTLSClient? = try MutualTLSClient(baseURL: "https://127.0.0.1:\(server.port)", identity: pki.adminIdentity,
                                                               idleTimeout: .seconds(3600))
            _ = try await client?.send(APIRequest(.get, "/healthz", object: "healthz"))
            #expect(server.openConnections == 1)
            // An error path that skips shutdown(): a debug build of AsyncHTTPClient stops the process here
            // unless the client shuts its pool down itself; a release build would keep the connection.
            client = nil
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            while server.openConnections > 0, clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(server.openConnections == 0, "the dropped client's connection is still open (its pool's idle timeout is an hour)")
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }
}

/// A flag shared with the server's responder closure.
final class NIOLockedBool: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Bool
    init(_ value: Bool) { stored = value }
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
