import Foundation
import Glibc
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// `seed init`'s kubectl phase, for real against a temporary root (files, links, modes and journal
/// real; systemd the recording fake). The VM master scenario runs it inside `seed init`.
@Suite struct RootKubectlHostTests {
    let admin = "apiVersion: v1\nkind: Config\n# the admin kubeconfig\n"

    func prepared() throws -> TemporaryHost {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, ControlPlane.adminKubeconfigPath, admin)
        try FileManager.default.createDirectory(atPath: host.root.resolve("/root"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: host.root.resolve("/usr/local/bin"), withIntermediateDirectories: true)
        try TemporaryHost.write(host.root, RootKubectl.binary, "#!/bin/sh\n")
        chmod(host.root.resolve(RootKubectl.binary), 0o755)
        return host
    }

    func phase(_ host: TemporaryHost) throws -> InitPhase.Result {
        try HostSession.with(host.root, effects: host.effects) { session in
            try MasterOperations(root: host.root, effects: host.effects, effectiveUID: 0).rootKubectl(in: session)
        }
    }

    func reset(_ host: TemporaryHost) -> AgentOperations.Outcome {
        AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0).reset()
    }

    @Test func rootGetsTheAdminKubeconfigAndKubectlASecondRunChangesNothingAndResetUndoesBoth() throws {
        let host = try prepared()
        let before = try host.snapshot()
        #expect(try phase(host).changes == 3)
        #expect(try host.root.readText(RootKubectl.configPath) == admin)
        #expect(host.root.mode(RootKubectl.configPath) == 0o600 && host.root.mode(RootKubectl.kubeDirectory) == 0o700)
        #expect(host.root.readLink(RootKubectl.linkPath) == RootKubectl.binary)
        #expect(try phase(host).changes == 0)
        #expect(reset(host).exitCode == 0)
        #expect(try host.snapshot() == before)
    }

    @Test func rootsOwnKubeconfigIsNeitherReplacedNorRemoved() throws {
        let host = try prepared()
        try TemporaryHost.write(host.root, RootKubectl.configPath, "root's own cluster\n")
        let result = try phase(host)
        #expect(result.detail.contains("root's own: left as is"))
        #expect(try host.root.readText(RootKubectl.configPath) == "root's own cluster\n")
        #expect(reset(host).exitCode == 0)
        #expect(try host.root.readText(RootKubectl.configPath) == "root's own cluster\n")
    }

    @Test func aKubeconfigRootEditedAfterKubeSeedWroteItIsKeptByReset() throws {
        let host = try prepared()
        _ = try phase(host)
        try host.root.writeAtomically(RootKubectl.configPath, Data((admin + "# root's edit\n").utf8), mode: 0o600)
        #expect(try phase(host).detail.contains("root's own: left as is"))
        let outcome = reset(host)
        #expect(outcome.output.contains("\(RootKubectl.configPath) changed since KubeSeed created it: left in place"), "\(outcome.output)")
        #expect(try host.root.readText(RootKubectl.configPath) == admin + "# root's edit\n")
    }
}
