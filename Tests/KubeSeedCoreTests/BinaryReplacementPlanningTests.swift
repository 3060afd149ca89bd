import Testing
@testable import KubeSeedCore

/// Pure planning: a running unit whose binary was replaced since it started (`seed-agent install-binaries
/// --replace`, `seed upgrade apply`) restarts, with no reload; one that only waits for a binary does not.
@Suite struct BinaryReplacementPlanningTests {
    let kubelet = ComponentPlanner.ManagedUnit("kubelet.service", binary: "kubelet", installHint: "node archive")
    let timer = ComponentPlanner.ManagedUnit("kubeseed-certs-renew.timer", binary: "kube-apiserver", installHint: "server archive", runsBinary: false)

    func observed(unit: String, started: UInt64, binary: String, modified: UInt64?) -> ComponentObservation {
        var observed = ComponentObservation()
        observed.units[unit] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled",
                                         activeEnterMicroseconds: started)
        observed.binaries = [binary]
        if let modified { observed.binaryChangedMicroseconds[binary] = modified }
        return observed
    }

    @Test(arguments: [(UInt64(2_000), true), (UInt64(1_000), false), (UInt64(500), false)])
    func aRunningUnitRestartsOnlyWhenItsBinaryIsNewerThanItsStart(modified: UInt64, restarts: Bool) {
        let steps = ComponentPlanner.plan([], observed(unit: "kubelet.service", started: 1_000, binary: "kubelet", modified: modified), units: [kubelet]).steps
        #expect(steps == (restarts ? [.restartUnit("kubelet.service")] : []))
    }

    @Test func anUnknownModificationTimeOrStartRestartsNothing() {
        #expect(ComponentPlanner.plan([], observed(unit: "kubelet.service", started: 1_000, binary: "kubelet", modified: nil), units: [kubelet]).steps.isEmpty)
        #expect(ComponentPlanner.plan([], observed(unit: "kubelet.service", started: 0, binary: "kubelet", modified: 2_000), units: [kubelet]).steps.isEmpty)
    }

    @Test func aUnitThatOnlyWaitsForTheBinaryIsNotRestarted() {
        let observed = observed(unit: timer.name, started: 1_000, binary: "kube-apiserver", modified: 2_000)
        #expect(ComponentPlanner.plan([], observed, units: [timer]).steps.isEmpty)
        #expect(!ComponentPlanner.runsOlderBinary(timer, observed.units[timer.name]!, observed))
    }

    @Test func aStoppedUnitIsStartedNotRestarted() {
        var observed = observed(unit: "kubelet.service", started: 1_000, binary: "kubelet", modified: 2_000)
        observed.units["kubelet.service"]!.activeState = "inactive"
        #expect(ComponentPlanner.plan([], observed, units: [kubelet]).steps == [.startUnit("kubelet.service")])
    }
}
