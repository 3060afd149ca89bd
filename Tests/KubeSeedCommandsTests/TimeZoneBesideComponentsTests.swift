import Foundation
import KubeSeedCommands
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The agent's pass lets node preparation's time settings run on beside its components' steps and waits
/// for them at the components' end (a fake of timedated that waits for a file the components write; the
/// VM's bench and prep scenarios set the zone through the real timedated).
@Suite struct TimeZoneBesideComponentsTests {
    func pass(_ host: TemporaryHost, _ time: WaitingTimeDate) async throws -> AgentOperations.Convergence {
        try TemporaryHost.write(host.root, JoinFile.defaultPath, ConvergeTests().joinText(extra: "host:\n  timezone: Asia/Shanghai"))
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
        var effects = host.effects
        effects.time = time
        return await AgentOperations(root: host.root, effects: effects, settings: NodePrepSettings(), effectiveUID: 0).converge()
    }

    @Test func theTimeZoneRunsOnWhileTheComponentsAreWrittenAndIsWaitedFor() async throws {
        let host = try TemporaryHost()
        let time = WaitingTimeDate(root: host.root, awaited: NodePaths.containerdConfig)
        let pass = try await pass(host, time)
        #expect(pass.status.ready, "\(pass.output)")
        // The zone's call saw a file only the components phase writes: node preparation did not wait for it.
        #expect(time.awaitedAtStart == [false] && time.sawAwaited == [true])
        let lines = pass.output.split(separator: "\n").map(String.init)
        let zone = try #require(lines.firstIndex { $0.hasPrefix("  changed  set time zone Asia/Shanghai") }, "\(pass.output)")
        let containerd = try #require(lines.firstIndex { $0.hasPrefix("  changed  write \(NodePaths.containerdConfig)") })
        #expect(containerd < zone, "said once waited for, after the components' steps")
        // Node preparation's summary says the setting it left running: not "unchanged" when it is the only change.
        #expect(lines.contains { $0.hasPrefix("seed-agent apply: ") && $0.contains("; still running: set time zone Asia/Shanghai") }, "\(pass.output)")
        #expect(try ChangeJournal(root: host.root).records.contains { if case .timezone = $0 { return true }; return false })
        // Where the time went: before the phases too.
        let phases = try #require(lines.first { $0.hasPrefix("seed-agent: phases: ") })
        #expect(phases.contains("join file ") && phases.contains(", session ") && phases.contains(", node identity "), "\(phases)")
    }

    @Test func aTimeZoneThatFailsBesideTheComponentsFailsThePassAfterThem() async throws {
        let host = try TemporaryHost()
        let time = WaitingTimeDate(root: host.root, awaited: NodePaths.containerdConfig, fails: true)
        let pass = try await pass(host, time)
        #expect(!pass.status.ready)
        #expect(pass.status.summary.hasPrefix("node preparation: set time zone Asia/Shanghai: "), "\(pass.status.summary)")
        #expect(pass.status.summary.contains("SetTimezone"))
        #expect(pass.retryable, "timedated may answer on the next pass")
        // The components' steps were made and are said; the zone is not said as made.
        #expect(pass.output.contains("  changed  restart containerd.service"), "\(pass.output)")
        #expect(!pass.output.contains("  changed  set time zone"))
        #expect(time.sawAwaited == [true])
    }

    @Test func withoutTheCallersSessionTheSettingsAreWaitedForBeforeTheLockIsLetGo() async throws {
        let host = try TemporaryHost()
        let time = WaitingTimeDate(root: host.root, awaited: "/etc")
        var effects = host.effects
        effects.time = time
        var settings = NodePrepSettings()
        settings.timezone = "Asia/Shanghai"
        let outcome = await AgentOperations(root: host.root, effects: effects, settings: settings, effectiveUID: 0)
            .apply(leaveTimeSettingsRunning: true)
        #expect(outcome.exitCode == 0, "\(outcome.output)")
        #expect(outcome.timeSettings == nil)
        #expect(outcome.output.contains("  changed  set time zone Asia/Shanghai"))
        #expect(!outcome.output.contains("still running"))
    }
}
