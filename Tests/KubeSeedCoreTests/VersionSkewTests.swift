import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): the version skew policy on a table of version pairs, and reading versions
/// from the API. Only 1.20.2 can be built here, so no VM run upgrades across releases.
@Suite struct VersionSkewTests {
    static func v(_ text: String) -> KubernetesVersion { KubernetesVersion(text)! }

    static func installed(api: [String], kubelets: [String] = [], proxies: [String] = []) -> VersionSkew.Installed {
        var installed = VersionSkew.Installed()
        for (index, version) in api.enumerated() { installed.apiServers["https://192.0.2.1\(index):6443"] = v(version) }
        for (index, version) in kubelets.enumerated() { installed.kubelets["node-\(index)"] = v(version) }
        for (index, version) in proxies.enumerated() { installed.kubeProxies["node-\(index)"] = v(version) }
        return installed
    }

    @Test(arguments: [
        // API servers, kubelets, target, allowed
        (["v1.20.2"], ["v1.20.2"], "v1.21.0", true),
        (["v1.20.2"], ["v1.20.2"], "v1.20.9", true),
        (["v1.20.2"], ["v1.20.2"], "v1.20.2", true),
        (["v1.20.2"], [], "v1.22.0", false),             // two minors at once
        (["v1.21.0"], [], "v1.20.15", false),            // a downgrade
        (["v1.20.2", "v1.21.1"], [], "v1.21.3", true),   // a control plane half-way through its upgrade
        (["v1.20.2", "v1.21.1"], [], "v1.22.0", false),  // the master still on 1.20 would jump two
        (["v1.22.0"], ["v1.20.4"], "v1.23.0", false),    // a kubelet three behind 1.23
        (["v1.22.0"], ["v1.21.4"], "v1.23.0", true),
        (["v1.27.0"], ["v1.25.0"], "v1.28.0", true),     // from 1.28, three minors behind is allowed
        (["v1.28.0"], ["v1.24.0"], "v1.29.0", false),
    ])
    func controlPlaneUpgrades(_ api: [String], _ kubelets: [String], _ target: String, _ allowed: Bool) {
        let problems = VersionSkew.controlPlaneProblems(Self.installed(api: api, kubelets: kubelets), to: Self.v(target))
        #expect(problems.isEmpty == allowed, "\(problems)")
    }

    @Test(arguments: [
        // API servers, the node's kubelet, target, allowed
        (["v1.21.0"], "v1.20.2", "v1.21.0", true),
        (["v1.21.0", "v1.20.2"], "v1.20.2", "v1.21.0", false), // a master not upgraded yet: never newer than an API server
        (["v1.21.0"], "v1.20.2", "v1.22.0", false),
        (["v1.21.0"], "v1.21.0", "v1.20.2", false),            // a downgrade
        (["v1.24.0"], "v1.20.2", "v1.21.0", false),            // still more than two behind
        (["v1.24.0"], "v1.20.2", "v1.22.0", true),
    ])
    func nodeUpgrades(_ api: [String], _ kubelet: String, _ target: String, _ allowed: Bool) {
        var installed = Self.installed(api: api)
        installed.kubelets["node-0"] = Self.v(kubelet)
        let problems = VersionSkew.nodeProblems(installed, node: "node-0", to: Self.v(target))
        #expect(problems.isEmpty == allowed, "\(problems)")
    }

    @Test func versionsAreReadFromTheAPIsAnswers() throws {
        #expect(VersionSkew.apiServerVersion(in: Data(#"{"major":"1","minor":"20","gitVersion":"v1.20.2-dirty"}"#.utf8)) == Self.v("v1.20.2"))
        #expect(VersionSkew.apiServerVersion(in: Data(#"{"gitVersion":"v1.27.3+k3s1"}"#.utf8)) == Self.v("v1.27.3"))
        #expect(VersionSkew.apiServerVersion(in: Data(#"{"gitVersion":"1.20"}"#.utf8)) == nil)
        let nodes = #"""
        {"items":[{"metadata":{"name":"a"},"status":{"nodeInfo":{"kubeletVersion":"v1.20.2","kubeProxyVersion":"v1.20.2"}}},
                  {"metadata":{"name":"b"},"status":{}}]}
        """#
        let (kubelets, proxies) = try VersionSkew.nodeVersions(in: Data(nodes.utf8))
        #expect(kubelets == ["a": Self.v("v1.20.2")] && proxies == ["a": Self.v("v1.20.2")])
        #expect(throws: VersionSkew.AnswerError.self) { try VersionSkew.nodeVersions(in: Data("{}".utf8)) }
    }
}
