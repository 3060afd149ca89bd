import Testing
@testable import KubeSeedCore

/// Pure planning: when a pass needs systemd's daemon-reload (it reruns every generator: seconds on a
/// small VM) and when it does not.
@Suite struct ReloadPlanningTests {
    let units = [ComponentPlanner.ManagedUnit("kubelet.service", binary: "kubelet", installHint: "node archive")]
    let unitFile = RenderedFile("/etc/systemd/system/kubelet.service", "[Unit]\n", restarts: ["kubelet.service"])

    @Test func aNewUnitFileIsEnabledAndStartedWithoutAReload() {
        var observed = ComponentObservation()
        observed.units["kubelet.service"] = .notFound
        observed.binaries = ["kubelet"]
        let plan = ComponentPlanner.plan([unitFile], observed, units: units)
        #expect(plan.steps.contains(.enableUnit("kubelet.service")))
        #expect(plan.steps.contains(.startUnit("kubelet.service")))
        #expect(!plan.steps.contains(.reloadSystemd))
    }

    @Test func aChangedFileOfALoadedUnitIsReloadedOnceBeforeTheRestart() throws {
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

    @Test func aDropInCountsForItsUnitAndOtherFilesForNone() {
        #expect(ComponentPlanner.unitName(ofFile: "/etc/systemd/system/containerd.service.d/10-kubeseed.conf") == "containerd.service")
        #expect(ComponentPlanner.unitName(ofFile: "/etc/systemd/system/etcd.service") == "etcd.service")
        #expect(ComponentPlanner.unitName(ofFile: "/etc/containerd/config.toml") == nil)
    }

    @Test func aFileOfAUnitTheObservationDidNotCoverIsReloadedToBeSafe() {
        let plan = ComponentPlanner.plan([unitFile], ComponentObservation(), units: units)
        #expect(plan.steps.contains(.reloadSystemd))
    }
}
