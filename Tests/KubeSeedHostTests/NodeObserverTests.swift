import Foundation
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The observation after module loads, against a temporary root (kmod, systemd and timedated are fakes).
@Suite struct NodeObserverTests {
    @Test func afterModuleLoadsTheirSysctlsAreSeenAndTheRestIsKept() throws {
        let host = try TemporaryHost()
        let settings = NodePrepSettings()
        let observer = NodeObserver(root: host.root, effects: host.effects, effectiveUID: 0)
        var before = observer.observe(settings)
        #expect(before.sysctls["net.bridge.bridge-nf-call-iptables"] == nil)
        #expect(before.modules["br_netfilter"] != .loaded)
        try host.modules.load("br_netfilter")
        // A unit state the refresh must not read again (systemd is not asked): kept as it was.
        before.units["chrony.service"] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled")
        host.services.units["chrony.service"] = nil
        let after = observer.afterModuleLoads(before, settings)
        #expect(after.modules["br_netfilter"] == .loaded)
        #expect(after.sysctls["net.bridge.bridge-nf-call-iptables"] == "1")
        #expect(after.units["chrony.service"] == before.units["chrony.service"])
        #expect(after.time == before.time && after.files == before.files && after.activeSwaps == before.activeSwaps)
        // Everything module loads touch matches a full observation.
        let full = observer.observe(settings)
        #expect(after.modules == full.modules && after.sysctls == full.sysctls)
        var fullKeepingChrony = full
        fullKeepingChrony.units["chrony.service"] = before.units["chrony.service"]
        #expect(NodePlanner.plan(settings, after).steps == NodePlanner.plan(settings, fullKeepingChrony).steps)
    }
}
