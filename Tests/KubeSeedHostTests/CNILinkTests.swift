import Foundation
import Glibc
import KubeSeedCommands
import KubeSeedCore
import Testing
@testable import KubeSeedHost

/// The CNI links, for real against a temporary root (links, files and journal real; systemd, kmod and
/// swap the recording fakes of Fakes.swift).
@Suite struct CNILinkTests {
    func operations(_ host: TemporaryHost) -> AgentOperations {
        AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0)
    }

    func join(_ host: TemporaryHost) throws {
        try TemporaryHost.write(host.root, JoinFile.defaultPath, ConvergeTests().joinText())
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
    }

    @Test func aJoinLinksDebiansPluginsASecondPassChangesNothingAndResetRestoresTheHost() throws {
        let host = try TemporaryHost()
        let before = try host.snapshot()
        try join(host)
        #expect(operations(host).converge().status.ready)
        for plugin in TemporaryHost.debianCNIPlugins {
            #expect(host.root.readLink("/opt/cni/bin/\(plugin)") == "/usr/lib/cni/\(plugin)")
        }
        #expect(host.root.mode("/opt/cni/bin") == 0o755)
        let second = operations(host).converge()
        #expect(second.changes == 0, "\(second.output)")
        try FileManager.default.removeItem(atPath: host.root.resolve(JoinFile.defaultPath))
        #expect(operations(host).reset().exitCode == 0)
        #expect(try host.snapshot() == before)
    }

    @Test func aPluginACNIInstalledOverALinkSurvivesResetAndTheOthersGo() throws {
        let host = try TemporaryHost()
        try join(host)
        #expect(operations(host).converge().status.ready)
        // What `cp` does once the destination is unlinked, and what Calico's installer does: a file of its own.
        try host.root.remove("/opt/cni/bin/portmap")
        try TemporaryHost.write(host.root, "/opt/cni/bin/portmap", "calico's portmap\n")
        try TemporaryHost.write(host.root, "/opt/cni/bin/calico", "calico\n")
        let outcome = operations(host).reset()
        #expect(outcome.exitCode == 0, "\(outcome.output)")
        #expect(outcome.output.contains("/opt/cni/bin/portmap was replaced since KubeSeed linked it: left in place"), "\(outcome.output)")
        #expect(try host.root.readText("/opt/cni/bin/portmap") == "calico's portmap\n")
        #expect(host.root.readLink("/opt/cni/bin/bridge") == nil && !host.root.exists("/opt/cni/bin/bridge"))
        #expect(try host.root.readText("/usr/lib/cni/portmap") == "#!/bin/sh\n")
    }

    @Test func aPluginAlreadyInOptCNIBinIsNeverReplaced() throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, "/opt/cni/bin/bridge", "the operator's bridge\n")
        try join(host)
        let pass = operations(host).converge()
        #expect(pass.status.ready, "\(pass.output)")
        #expect(try host.root.readText("/opt/cni/bin/bridge") == "the operator's bridge\n")
        #expect(host.root.readLink("/opt/cni/bin/loopback") == "/usr/lib/cni/loopback")
        #expect(operations(host).reset().exitCode == 0)
        #expect(try host.root.readText("/opt/cni/bin/bridge") == "the operator's bridge\n")
        #expect(!host.root.exists("/opt/cni/bin/loopback"))
    }
}
