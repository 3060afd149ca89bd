import KubeSeedCore
import Testing

/// The CNI layout plan: pure, no host.
@Suite struct CNILayoutTests {
    let plugins = ["portmap", "bridge", "host-local"]

    @Test func everyDebianPluginMissingFromOptCNIBinIsLinkedInNameOrder() {
        let item = CNILayout.plan(debianPlugins: plugins, entries: [:])
        #expect(item.state == .change)
        #expect(item.steps == [
            .link(path: "/opt/cni/bin/bridge", target: "/usr/lib/cni/bridge"),
            .link(path: "/opt/cni/bin/host-local", target: "/usr/lib/cni/host-local"),
            .link(path: "/opt/cni/bin/portmap", target: "/usr/lib/cni/portmap"),
        ])
    }

    @Test func linksAlreadyInPlaceChangeNothing() {
        let entries = Dictionary(uniqueKeysWithValues: plugins.map { ($0, CNIBinEntry.link("/usr/lib/cni/\($0)")) })
        let item = CNILayout.plan(debianPlugins: plugins, entries: entries)
        #expect(item.state == .ok)
        #expect(item.steps.isEmpty)
        #expect(item.detail == "3 linked from /usr/lib/cni")
    }

    @Test func aCNIsOwnPluginOrAnotherLinkKeepsItsName() {
        let entries: [String: CNIBinEntry] = ["portmap": .other, "bridge": .link("/opt/calico/bridge"), "flannel": .other]
        let item = CNILayout.plan(debianPlugins: plugins, entries: entries)
        #expect(item.steps == [.link(path: "/opt/cni/bin/host-local", target: "/usr/lib/cni/host-local")])
        #expect(item.detail.hasSuffix("kept as installed by others: bridge portmap"))
    }

    @Test func withoutDebiansPluginsTheLayoutWarnsAndWritesNothing() {
        let item = CNILayout.plan(debianPlugins: [], entries: ["flannel": .other])
        #expect(item.state == .warn)
        #expect(item.steps.isEmpty)
        #expect(item.detail.contains("apt install containernetworking-plugins"))
    }

    @Test func theNodePlanCarriesTheLayoutOnlyWhenObserved() {
        var observed = ComponentObservation()
        #expect(!ComponentPlanner.plan([], observed, units: []).items.contains { $0.name.hasPrefix("CNI plugins") })
        observed.debianCNIPlugins = ["bridge"]
        let plan = ComponentPlanner.plan([], observed, units: [])
        #expect(plan.steps == [.link(path: "/opt/cni/bin/bridge", target: "/usr/lib/cni/bridge")])
    }
}
