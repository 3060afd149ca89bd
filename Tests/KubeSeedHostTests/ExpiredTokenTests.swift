import Foundation
import Glibc
import KubeSeedCommands
import KubeSeedCore
import Testing
@testable import KubeSeedHost

/// A join file whose token has expired, for real against a temporary root (fakes for kmod, swap, D-Bus).
@Suite struct ExpiredTokenTests {
    func operations(_ host: TemporaryHost) -> AgentOperations {
        AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0)
    }

    func drop(_ host: TemporaryHost) throws {
        let text = ConvergeTests().joinText().replacingOccurrences(of: "2099-01-01T00:00:00Z", with: "2020-01-01T00:00:00Z")
        try TemporaryHost.write(host.root, JoinFile.defaultPath, text)
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
    }

    @Test func beforeTheKubeletBootstrappedAnExpiredTokenIsRefusedAndNothingChanges() throws {
        let host = try TemporaryHost()
        try drop(host)
        let before = try host.snapshot()
        let pass = operations(host).converge()
        #expect(!pass.status.ready)
        #expect(pass.output.contains("field 'bootstrap.expires': the bootstrap token expired"), "\(pass.output)")
        #expect(try host.snapshot() == before)
    }

    @Test func onceTheKubeletHasItsClientCertificateTheExpiredTokenNoLongerMatters() throws {
        let host = try TemporaryHost()
        try drop(host)
        try TemporaryHost.write(host.root, NodePaths.kubeletClientCertificate, "the kubelet's rotated certificate\n")
        let pass = operations(host).converge()
        #expect(pass.status.ready, "\(pass.output)")
    }
}
