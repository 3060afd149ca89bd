import Foundation
import Glibc
import KubeSeedCommands
import KubeSeedCore
@testable import KubeSeedPKI
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// A join file whose token has expired, for real against a temporary root (fakes for kmod, swap, D-Bus;
/// certificates real, from a throwaway CA).
@Suite struct ExpiredTokenTests {
    func operations(_ host: TemporaryHost) -> AgentOperations {
        AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0)
    }

    static func indented(_ pem: String) -> String { pem.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") }

    /// The join file with an expired token and `ca` as the cluster CA.
    func drop(_ host: TemporaryHost, ca: Issuer) throws {
        let text = ConvergeTests().joinText()
            .replacingOccurrences(of: "2099-01-01T00:00:00Z", with: "2020-01-01T00:00:00Z")
            .replacingOccurrences(of: Self.indented(ConvergeTests.ca), with: Self.indented(ca.certificate.pem))
        try TemporaryHost.write(host.root, JoinFile.defaultPath, text)
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
    }

    func kubeletCertificate(from ca: Issuer, now: Date = Date()) throws -> String {
        let spec = CertificateSpec(name: "kubelet-client", commonName: "system:node:worker-7", organization: "system:nodes", usage: .client)
        let (certificate, key) = try ca.issue(spec, .ecdsaP256, now: now)
        return certificate.pem + key.pem
    }

    @Test func beforeTheKubeletBootstrappedAnExpiredTokenIsRefusedAndNothingChanges() async throws {
        let host = try TemporaryHost()
        try drop(host, ca: try Issuer.makeCA(.ecdsaP256))
        let before = try host.snapshot()
        let pass = await operations(host).converge()
        #expect(!pass.status.ready)
        #expect(pass.output.contains("field 'bootstrap.expires': the bootstrap token expired"), "\(pass.output)")
        #expect(try host.snapshot() == before)
    }

    @Test func onceTheKubeletHasAClientCertificateFromTheClusterCATheExpiredTokenNoLongerMatters() async throws {
        let host = try TemporaryHost()
        let ca = try Issuer.makeCA(.ecdsaP256)
        try drop(host, ca: ca)
        try TemporaryHost.write(host.root, NodePaths.kubeletClientCertificate, try kubeletCertificate(from: ca))
        let pass = await operations(host).converge()
        #expect(pass.status.ready, "\(pass.output)")
    }

    @Test(arguments: ["another cluster's CA", "expired", "not a certificate"])
    func aCertificateThatIsNotAValidOneFromTheClusterCADoesNotCount(_ case_: String) async throws {
        let host = try TemporaryHost()
        let ca = try Issuer.makeCA(.ecdsaP256)
        try drop(host, ca: ca)
        let pem: String
        switch case_ {
        case "another cluster's CA": pem = try kubeletCertificate(from: try Issuer.makeCA(.ecdsaP256))
        case "expired": pem = try kubeletCertificate(from: ca, now: Date().addingTimeInterval(-6 * 366 * 86400))
        default: pem = "left from an old install\n"
        }
        try TemporaryHost.write(host.root, NodePaths.kubeletClientCertificate, pem)
        let pass = await operations(host).converge()
        #expect(!pass.status.ready, "\(case_)")
        #expect(pass.output.contains("the bootstrap token expired"), "\(pass.output)")
    }
}
