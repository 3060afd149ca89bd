import Foundation
import Glibc
import KubeSeedCommands
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

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

    @Test func aJoinLinksDebiansPluginsASecondPassChangesNothingAndResetRestoresTheHost() async throws {
        let host = try TemporaryHost()
        let before = try host.snapshot()
        try join(host)
        #expect(await operations(host).converge().status.ready)
        for plugin in TemporaryHost.debianCNIPlugins {
            #expect(host.root.readLink("/opt/cni/bin/\(plugin)") == "/usr/lib/cni/\(plugin)")
        }
        #expect(host.root.mode("/opt/cni/bin") == 0o755)
        let second = await operations(host).converge()
        #expect(second.changes == 0, "\(second.output)")
        try FileManager.default.removeItem(atPath: host.root.resolve(JoinFile.defaultPath))
        #expect(operations(host).reset().exitCode == 0)
        #expect(try host.snapshot() == before)
    }

    @Test func aPluginACNIInstalledOverALinkSurvivesResetAndTheOthersGo() async throws {
        let host = try TemporaryHost()
        try join(host)
        #expect(await operations(host).converge().status.ready)
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

    @Test func aPluginAlreadyInOptCNIBinIsNeverReplaced() async throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, "/opt/cni/bin/bridge", "the operator's bridge\n")
        try join(host)
        let pass = await operations(host).converge()
        #expect(pass.status.ready, "\(pass.output)")
        #expect(try host.root.readText("/opt/cni/bin/bridge") == "the operator's bridge\n")
        #expect(host.root.readLink("/opt/cni/bin/loopback") == "/usr/lib/cni/loopback")
        #expect(operations(host).reset().exitCode == 0)
        #expect(try host.root.readText("/opt/cni/bin/bridge") == "the operator's bridge\n")
        #expect(!host.root.exists("/opt/cni/bin/loopback"))
    }
}

/// Reset's guards hold across a reset that could not finish, and against a plugin that appears between
/// the plan and the link (real files and journal on a temporary root; systemd and kmod fakes).
@Suite struct ResetGuardTests {
    func reset(_ host: TemporaryHost) -> AgentOperations.Outcome {
        AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0).reset()
    }

    @Test func aSecondResetStillKnowsWhatKubeSeedWroteAtAPathTheFirstCouldNotRestore() throws {
        let host = try TemporaryHost()
        let path = "/etc/kubeseed-test.conf"
        let journal = try ChangeJournal(root: host.root)
        _ = try journal.record([.file(path: path, previous: Data("the original\n".utf8), previousMode: 0o644),
                                .fileWritten(path: path, sha256: ChangeJournal.sha256(Data("KubeSeed's\n".utf8)))])
        // The first reset cannot restore it (a directory is in the way)...
        try FileManager.default.createDirectory(atPath: host.root.resolve(path + "/inside"), withIntermediateDirectories: true)
        #expect(reset(host).exitCode != 0)
        #expect(try ChangeJournal(root: host.root).records.contains(.fileWritten(path: path, sha256: ChangeJournal.sha256(Data("KubeSeed's\n".utf8)))))
        // ...and by the second, someone else's file is there: it is not KubeSeed's to overwrite.
        try FileManager.default.removeItem(atPath: host.root.resolve(path))
        try TemporaryHost.write(host.root, path, "someone else's\n")
        _ = reset(host)
        #expect(try host.root.readText(path) == "someone else's\n")
        #expect(try host.root.readText(path + ".kubeseed-orig") == "the original\n")
    }

    @Test func aPluginThatAppearsBetweenThePlanAndTheLinkIsLeftAndResetLeavesItToo() throws {
        let host = try TemporaryHost()
        let journal = try ChangeJournal(root: host.root)
        try FileManager.default.createDirectory(atPath: host.root.resolve("/opt/cni/bin"), withIntermediateDirectories: true)
        let runner = StepRunner(root: host.root, effects: host.effects, journal: journal)
        // Planned while /opt/cni/bin/bridge was free; a CNI's installer puts its own there first.
        let planned: [Step] = [.link(path: "/opt/cni/bin/bridge", target: "/usr/lib/cni/bridge")]
        try TemporaryHost.write(host.root, "/opt/cni/bin/bridge", "the CNI's bridge\n")
        try runner.apply(planned, observed: NodeObservation())
        #expect(try host.root.readText("/opt/cni/bin/bridge") == "the CNI's bridge\n")
        _ = reset(host)
        #expect(try host.root.readText("/opt/cni/bin/bridge") == "the CNI's bridge\n")
    }
}
