import Foundation
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// A list's time settings are made on their own thread while its other steps run (fakes of timedated
/// that wait for, or fail beside, the other steps; the VM's scenarios make them through timedated).
@Suite struct TimeSettingsInFlightTests {
    let later = "/etc/kubeseed-written-after-the-zone"
    var steps: [Step] {
        [.setTimezone("Asia/Shanghai"), .setLocalRTC(false), .loadModule("br_netfilter"),
         .writeFile(path: later, content: "x\n", mode: 0o644)]
    }

    func runner(_ host: TemporaryHost, _ time: WaitingTimeDate) throws -> StepRunner {
        var effects = host.effects
        effects.time = time
        return StepRunner(root: host.root, effects: effects, journal: try ChangeJournal(root: host.root))
    }

    @Test func theTimeSettingsRunWhileTheOtherStepsDo() throws {
        let host = try TemporaryHost()
        let time = WaitingTimeDate(root: host.root, awaited: later)
        let runner = try runner(host, time)
        try runner.apply(steps, observed: NodeObservation())
        // Both calls saw the file a step listed after them wrote: they did not hold the list up.
        #expect(time.sawAwaited == [true, true])
        // The others in their order, then the time settings once waited for.
        #expect(runner.performed.map(\.step) == Array(steps.suffix(2)) + Array(steps.prefix(2)))
        // Journaled before any of them ran: reset puts the zone back.
        #expect(try ChangeJournal(root: host.root).records.contains { if case .timezone = $0 { return true }; return false })
    }

    @Test func aFailedTimeSettingFailsTheListOnceTheOthersRan() throws {
        let host = try TemporaryHost()
        let time = WaitingTimeDate(root: host.root, awaited: later)
        time.fails = true
        let runner = try runner(host, time)
        let error = try #require(throws: HostError.self) { try runner.apply(steps, observed: NodeObservation()) }
        #expect("\(error)".contains("SetTimezone"))
        // The first failure ends the time settings; the list's other steps were made.
        #expect(time.sawAwaited == [true])
        #expect(host.root.exists(later))
        #expect(runner.performed.map(\.step) == [.loadModule("br_netfilter"), .writeFile(path: later, content: "x\n", mode: 0o644)])
        #expect(runner.failedTimeSettings.map(\.step) == [.setTimezone("Asia/Shanghai")])
    }

    @Test func aTimeSettingThatFailsBesideAnotherFailureIsKept() throws {
        let host = try TemporaryHost()
        let time = WaitingTimeDate(root: host.root, awaited: "/etc")
        time.fails = true
        host.modules.failLoad = ["br_netfilter"]
        let runner = try runner(host, time)
        // Both fail; the module load's error is thrown, the time zone's kept.
        let error = try #require(throws: HostError.self) { try runner.apply(steps, observed: NodeObservation()) }
        #expect("\(error)".contains("br_netfilter"))
        #expect(runner.failedTimeSettings.map(\.step) == [.setTimezone("Asia/Shanghai")])
    }

    @Test func settingsStartedAheadRunBesideLaterListsAndAreMadeOnce() throws {
        let host = try TemporaryHost()
        let time = WaitingTimeDate(root: host.root, awaited: "/sys/module/br_netfilter")
        let runner = try runner(host, time)
        try runner.startTimeSettings(steps, observed: NodeObservation())
        // timedated is asked before any list runs.
        let deadline = Date().addingTimeInterval(10)
        while !time.began && Date() < deadline { usleep(10_000) }
        #expect(time.began)
        // Node preparation's order: the module loads, then the rest (the settings listed again).
        try runner.apply([.loadModule("br_netfilter")], observed: NodeObservation(), deferReload: true)
        try runner.apply(steps.filter { if case .loadModule = $0 { return false }; return true }, observed: NodeObservation())
        try runner.finishTimeSettings()
        #expect(time.sawAwaited == [true, true])
        #expect(runner.performed.map(\.step).filter(\.isTimeSetting) == [.setTimezone("Asia/Shanghai"), .setLocalRTC(false)])
        #expect(try ChangeJournal(root: host.root).records.filter { if case .timezone = $0 { return true }; return false }.count == 1)
    }

    @Test func aListWithoutTimeSettingsNeedsNoTimedated() throws {
        let host = try TemporaryHost()
        var effects = host.effects
        effects.time = nil
        let runner = StepRunner(root: host.root, effects: effects, journal: try ChangeJournal(root: host.root))
        try runner.apply([.writeFile(path: later, content: "x\n", mode: 0o644)], observed: NodeObservation())
        #expect(host.root.exists(later))
    }
}
