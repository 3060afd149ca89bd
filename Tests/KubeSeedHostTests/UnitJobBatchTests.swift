import Foundation
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// Starts and restarts in a row go to systemd as one batch of jobs (a fake manager records the batches;
/// the VM's scenarios run them on systemd).
@Suite struct UnitJobBatchTests {
    let steps: [Step] = [
        .enableUnit("kubelet.service"), .reloadSystemd,
        .restartUnit("containerd.service"), .startUnit("kubeseed-api-balancer.service"), .startUnit("kubelet.service"),
        .writeFile(path: "/etc/kubeseed-batch-test", content: "x\n", mode: 0o644),
        .startUnit("kube-proxy.service"),
    ]

    func runner(_ host: TemporaryHost) throws -> StepRunner {
        StepRunner(root: host.root, effects: host.effects, journal: try ChangeJournal(root: host.root))
    }

    @Test func startsInARowAreQueuedTogetherAndALoneOneOnItsOwn() throws {
        let host = try TemporaryHost()
        let runner = try runner(host)
        try runner.apply(steps, observed: NodeObservation())
        #expect(host.services.batches == [[.restart("containerd.service"), .start("kubeseed-api-balancer.service"), .start("kubelet.service")],
                                          [.start("kube-proxy.service")]])
        #expect(host.services.calls.suffix(4) == ["restart containerd.service", "start kubeseed-api-balancer.service", "start kubelet.service",
                                                  "start kube-proxy.service"])
        #expect(runner.performed.map(\.step) == steps)
    }

    @Test func aFailedJobStopsTheRunOnceTheBatchEndedAndTheOthersCount() throws {
        let host = try TemporaryHost()
        let runner = try runner(host)
        host.services.failNext["restart"] = 1
        #expect(throws: HostError.self) { try runner.apply(steps, observed: NodeObservation()) }
        // Every job of the batch was queued; the ones that ended done are performed; nothing after the batch ran.
        #expect(host.services.calls.contains("start kubelet.service"))
        #expect(runner.performed.map(\.step) == [.enableUnit("kubelet.service"), .reloadSystemd,
                                                 .startUnit("kubeseed-api-balancer.service"), .startUnit("kubelet.service")])
        #expect(!host.root.exists("/etc/kubeseed-batch-test"))
        #expect(!host.services.calls.contains("start kube-proxy.service"))
        #expect(runner.failedJobs.map(\.step) == [.restartUnit("containerd.service")])
        // Journaled before the first change: reset stops what the batch started.
        #expect(try ChangeJournal(root: host.root).records.contains { $0 == .unitStarted("kubelet.service") })
    }

    @Test(.enabled(if: LiveHostTests.hasSystemBus, "needs a running systemd and system bus"))
    func systemdReportsEachJobOfABatch() throws {
        // A unit that does not exist: both jobs are refused on queueing (no change to this machine).
        let systemd = try LiveServiceManager()
        let results = systemd.run([.start("kubeseed-no-such-a.service"), .start("kubeseed-no-such-b.service")])
        #expect(results.count == 2)
        #expect(results.allSatisfy { if case .failure = $0 { return true }; return false })
    }
}

/// Jobs an earlier list left owed (`StepRunner.require`) run after the reload, with the next list's own
/// starts in one batch, or at its end (a fake manager records the order).
@Suite struct OwedActivationTests {
    func runner(_ host: TemporaryHost) throws -> StepRunner {
        StepRunner(root: host.root, effects: host.effects, journal: try ChangeJournal(root: host.root))
    }

    @Test func owedStartsJoinTheFirstBatchAfterItsReload() throws {
        let host = try TemporaryHost()
        let runner = try runner(host)
        runner.require(PendingActivation(reload: true, jobs: [.startUnit("etcd.service")]))
        try runner.apply([.enableUnit("kubelet.service"), .reloadSystemd, .restartUnit("containerd.service"), .startUnit("kubelet.service")],
                         observed: NodeObservation())
        #expect(host.services.calls == ["enable kubelet.service", "reload", "start etcd.service", "restart containerd.service", "start kubelet.service"])
        #expect(host.services.batches == [[.start("etcd.service"), .restart("containerd.service"), .start("kubelet.service")]])
        #expect(runner.pending.isEmpty && runner.failedJobs.isEmpty)
        #expect(try ChangeJournal(root: host.root).records.contains { $0 == .unitStarted("etcd.service") })
    }

    @Test func aListWithoutItsOwnReloadReloadsBeforeTheOwedStarts() throws {
        let host = try TemporaryHost()
        let runner = try runner(host)
        runner.require(PendingActivation(reload: true, jobs: [.startUnit("etcd.service")]))
        try runner.apply([.restartUnit("containerd.service")], observed: NodeObservation())
        #expect(host.services.calls == ["reload", "start etcd.service", "restart containerd.service"])

        let other = try TemporaryHost()
        let settling = try self.runner(other)
        settling.require(PendingActivation(reload: true, jobs: [.startUnit("etcd.service"), .startUnit("kube-apiserver.service")]))
        try settling.apply([.writeFile(path: "/etc/kubeseed-owed-test", content: "x\n", mode: 0o644)], observed: NodeObservation())
        #expect(other.services.calls == ["reload", "start etcd.service", "start kube-apiserver.service"])
        #expect(other.services.batches.count == 1)
    }

    @Test func deferringKeepsWhatIsOwedAndAFailedReloadLeavesItOwed() throws {
        let host = try TemporaryHost()
        let runner = try runner(host)
        let owed = PendingActivation(reload: true, jobs: [.startUnit("etcd.service")])
        runner.require(owed)
        try runner.apply([.writeFile(path: "/etc/kubeseed-owed-test", content: "x\n", mode: 0o644)], observed: NodeObservation(), deferReload: true)
        #expect(host.services.calls.isEmpty)
        #expect(runner.pending == owed)

        var pending = owed
        host.services.failNext["reload"] = 1
        #expect(throws: HostError.self) { try HostSession.with(host.root, effects: host.effects) { try $0.settle(&pending) } }
        #expect(pending == owed)
        try HostSession.with(host.root, effects: host.effects) { try $0.settle(&pending) }
        #expect(pending.isEmpty)
        #expect(host.services.calls.suffix(2) == ["reload", "start etcd.service"])
    }
}
