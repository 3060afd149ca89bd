import Testing
@testable import KubeSeedCore

/// Pure planning: one daemon-reload (it reruns every systemd generator: seconds on a small VM) when
/// unit files change, before any start or restart, and none on an unchanged pass.
@Suite struct ReloadPlanningTests {
    let units = [ComponentPlanner.ManagedUnit("kubelet.service", binary: "kubelet", installHint: "node archive")]
    let unitFile = RenderedFile("/etc/systemd/system/kubelet.service", "[Unit]\n", restarts: ["kubelet.service"])

    @Test func aNewUnitIsWrittenEnabledReloadedOnceThenStarted() throws {
        var observed = ComponentObservation()
        observed.units["kubelet.service"] = .notFound
        observed.binaries = ["kubelet"]
        let steps = ComponentPlanner.plan([unitFile], observed, units: units).steps
        #expect(steps == [.writeFile(path: unitFile.path, content: unitFile.content, mode: unitFile.mode), .enableUnit("kubelet.service"),
                          .reloadSystemd, .startUnit("kubelet.service")])
    }

    @Test func aChangedFileOfARunningUnitIsReloadedOnceBeforeTheRestart() throws {
        var observed = ComponentObservation()
        observed.units["kubelet.service"] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled")
        observed.files[unitFile.path] = ("[Unit]\nDescription=old\n", 0o644, 1)
        observed.binaries = ["kubelet"]
        let steps = ComponentPlanner.plan([unitFile], observed, units: units).steps
        #expect(steps.filter { $0 == .reloadSystemd }.count == 1)
        let reload = try #require(steps.firstIndex(of: .reloadSystemd))
        let restart = try #require(steps.firstIndex(of: .restartUnit("kubelet.service")))
        #expect(reload < restart)
    }

    @Test func anUnchangedPassHasNoReload() {
        var observed = ComponentObservation()
        observed.units["kubelet.service"] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled",
                                                      activeEnterMicroseconds: 2)
        observed.files[unitFile.path] = (unitFile.content, unitFile.mode, 1)
        observed.binaries = ["kubelet"]
        #expect(ComponentPlanner.plan([unitFile], observed, units: units).steps.isEmpty)
    }
}

/// What a list of steps leaves owed for a later one (pure).
@Suite struct PendingActivationTests {
    @Test func deferringSplitsOffTheReloadAndEveryJob() {
        let steps: [Step] = [.writeFile(path: "/etc/systemd/system/etcd.service", content: "", mode: 0o644), .enableUnit("etcd.service"),
                             .reloadSystemd, .restartUnit("etcd.service"), .startUnit("kube-apiserver.service")]
        let (now, owed) = PendingActivation.deferring(steps)
        #expect(now == Array(steps.prefix(2)))
        #expect(owed == PendingActivation(reload: true, jobs: [.restartUnit("etcd.service"), .startUnit("kube-apiserver.service")]))
        #expect(PendingActivation.deferring(Array(steps.prefix(2))).owed.isEmpty)
    }

    @Test func addingKeepsOneReloadAndEachJobOnce() {
        let a = PendingActivation(reload: false, jobs: [.startUnit("etcd.service")])
        let b = PendingActivation(reload: true, jobs: [.startUnit("etcd.service"), .startUnit("kube-apiserver.service")])
        #expect(a.adding(b) == PendingActivation(reload: true, jobs: [.startUnit("etcd.service"), .startUnit("kube-apiserver.service")]))
        #expect(PendingActivation().adding(PendingActivation()).isEmpty)
    }
}
