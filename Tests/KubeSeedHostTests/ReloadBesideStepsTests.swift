import Foundation
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// A daemon-reload runs on its own thread while the steps it need not see are made (a fake of systemd
/// whose reload waits for a file made beside it; the VM's scenarios reload the real systemd).
@Suite struct ReloadBesideStepsTests {
    let unit = Step.writeFile(path: "/etc/systemd/system/kubelet.service", content: "[Unit]\n", mode: 0o644)
    let config = Step.writeFile(path: "/etc/kubeseed-config-written-beside", content: "x\n", mode: 0o644)

    func runner(_ host: TemporaryHost) throws -> StepRunner {
        StepRunner(root: host.root, effects: host.effects, journal: try ChangeJournal(root: host.root))
    }

    /// Makes the fake's reload wait (10 s at most) for `path`, and returns whether each reload saw it and the unit file.
    func reloadWaits(for path: String, _ host: TemporaryHost) -> () -> [(sawBeside: Bool, sawUnit: Bool)] {
        let lock = NSLock()
        var seen: [(Bool, Bool)] = []
        host.services.duringReload = { [root = host.root, unit] in
            let deadline = Date().addingTimeInterval(10)
            while !root.exists(path) && Date() < deadline { usleep(10_000) }
            guard case .writeFile(let unitPath, _, _) = unit else { return }
            let saw = (root.exists(path), root.exists(unitPath))
            lock.withLock { seen.append(saw) }
        }
        return { lock.withLock { seen } }
    }

    @Test func whatTheReloadNeedNotSeeIsMadeWhileItRuns() throws {
        let host = try TemporaryHost()
        let seen = reloadWaits(for: "/etc/kubeseed-config-written-beside", host)
        let runner = try runner(host)
        try runner.apply([config, unit, .reloadSystemd, .startUnit("kubelet.service")], observed: NodeObservation())
        // The reload saw the config, written after it began, and the unit file, written before.
        #expect(seen().map(\.sawBeside) == [true] && seen().map(\.sawUnit) == [true])
        #expect(runner.performed.map(\.step) == [unit, config, .reloadSystemd, .startUnit("kubelet.service")])
        #expect(host.services.reloads == 1 && !runner.reloadPending)
    }

    @Test func aStepThatFailsBesideTheReloadIsThrownOnceTheReloadEnded() throws {
        let host = try TemporaryHost()
        host.services.duringReload = { usleep(200_000) }
        let runner = try runner(host)
        let broken = Step.writeFile(path: "/no-such-directory/config", content: "x\n", mode: 0o644)
        #expect(throws: HostError.self) {
            try runner.apply([broken, unit, .reloadSystemd, .startUnit("kubelet.service")], observed: NodeObservation())
        }
        // The reload ran to its end and counts; nothing was started.
        #expect(runner.performed.map(\.step) == [unit, .reloadSystemd])
        #expect(!host.services.calls.contains("start kubelet.service"))
    }

    @Test func aReloadThatFailsIsThrownAfterTheStepsBesideItWereMade() throws {
        let host = try TemporaryHost()
        host.services.failNext["reload"] = 1
        let runner = try runner(host)
        #expect(throws: (any Error).self) {
            try runner.apply([config, unit, .reloadSystemd, .startUnit("kubelet.service")], observed: NodeObservation())
        }
        #expect(host.root.exists("/etc/kubeseed-config-written-beside"))
        #expect(runner.performed.map(\.step) == [unit, config])
        #expect(!host.services.calls.contains("start kubelet.service"))
    }
}
