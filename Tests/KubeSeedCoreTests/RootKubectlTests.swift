import KubeSeedCore
import Testing

/// kubectl for root: the plan, pure.
@Suite struct RootKubectlTests {
    let admin = "apiVersion: v1\nkind: Config\n"

    @Test func aFreshMasterGetsTheDirectoryTheConfigAndTheLink() {
        var observed = RootKubectl.Observation()
        observed.binaryPresent = true
        let steps = RootKubectl.plan(adminKubeconfig: admin, observed).flatMap(\.steps)
        #expect(steps == [
            .createDirectory(path: "/root/.kube", mode: 0o700),
            .writeFile(path: "/root/.kube/config", content: admin, mode: 0o600),
            .link(path: "/usr/local/bin/kubectl", target: "/opt/k8s/bin/kubectl"),
        ])
    }

    @Test func rootsOwnConfigAndKubectlAreLeftAlone() {
        var observed = RootKubectl.Observation()
        observed.config = "the operator's own\n"
        observed.configMode = 0o600
        observed.kubeDirectoryExists = true
        observed.binaryPresent = true
        observed.link = .other
        let items = RootKubectl.plan(adminKubeconfig: admin, observed)
        #expect(items.flatMap(\.steps).isEmpty)
        #expect(items[0].detail.contains("root's own: left as is"))
        #expect(items[1].detail.contains("the operator's"))
        observed.link = .link("/usr/bin/kubectl")
        #expect(RootKubectl.plan(adminKubeconfig: admin, observed).flatMap(\.steps).isEmpty)
    }

    @Test func kubeSeedsOwnConfigFollowsTheAdminKubeconfigAndItsMode() {
        var observed = RootKubectl.Observation()
        observed.config = admin
        observed.configMode = 0o600
        observed.configIsKubeSeeds = true
        observed.kubeDirectoryExists = true
        #expect(RootKubectl.plan(adminKubeconfig: admin, observed).flatMap(\.steps).isEmpty)
        observed.configMode = 0o644
        #expect(RootKubectl.plan(adminKubeconfig: admin, observed).flatMap(\.steps) == [.writeFile(path: "/root/.kube/config", content: admin, mode: 0o600)])
        observed.configMode = 0o600
        let renewed = admin + "# renewed\n"
        #expect(RootKubectl.plan(adminKubeconfig: renewed, observed).flatMap(\.steps) == [.writeFile(path: "/root/.kube/config", content: renewed, mode: 0o600)])
    }

    @Test func withoutKubectlNothingIsLinked() {
        let items = RootKubectl.plan(adminKubeconfig: admin, RootKubectl.Observation())
        #expect(!items.flatMap(\.steps).contains { if case .link = $0 { return true }; return false })
        #expect(items[1].detail == "no /opt/k8s/bin/kubectl yet: nothing to link")
    }

    @Test func aKubectlTheOperatorHasFurtherDownPathIsNotShadowed() {
        var observed = RootKubectl.Observation()
        observed.binaryPresent = true
        observed.otherKubectl = "/usr/bin/kubectl"
        let items = RootKubectl.plan(adminKubeconfig: admin, observed)
        #expect(!items.flatMap(\.steps).contains { if case .link = $0 { return true }; return false })
        #expect(items[1].detail.hasPrefix("/usr/bin/kubectl is the operator's: not shadowed"))
    }
}
