import Foundation
import Testing
import Yams
@testable import KubeSeedCore

/// Unit tests (pure logic): the version table, at each of its boundaries, against golden files.
@Suite struct KubernetesVersionTests {
    @Test(arguments: [
        ("v1.20.2", true), ("v1.20.0", true), ("v1.31.2", true), ("v1.19.16", false), ("v1.16.0", false), ("v2.0.0", false),
    ])
    func theSupportedRangeStartsAt120(_ text: String, _ supported: Bool) throws {
        #expect(try #require(KubernetesVersion(text)).isSupported == supported)
        #expect(Validate.isSupportedKubernetesVersion(text) == supported)
    }

    @Test(arguments: ["", "v", "1.20.2", "v1.20", "v1.20.2.1", "v1.020.2", "v1.20.2-rc.0", "v1.20.2+k3s1", "v1.2O.2", "v1.20.٢", "v 1.20.2",
                      "v1.20.99999", "V1.20.2", "v1..2", "v1.20.2\n", "v1.20.2\u{0}", "v1.20.2%", " v1.20.2", "v1.20.2 ", "v1.20.%32",
                      "v1.20.2\u{202E}", String(repeating: "9", count: 5000)])
    func anythingButVMajorMinorPatchIsRefused(_ text: String) {
        #expect(KubernetesVersion(text) == nil)
        #expect(!Validate.isSupportedKubernetesVersion(text))
    }

    /// A refused version is described, never echoed, when it holds a control character (a terminal
    /// escape in cluster.yaml must not reach the operator's screen through the error).
    @Test func aRefusedVersionWithAControlCharacterIsNotEchoed() throws {
        let text = "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\ncluster:\n  kubernetesVersion: \"v1.20.2\\e[31m\"\n"
        let error = #expect(throws: ConfigError.self) { try ClusterConfig.parse(text, file: "cluster.yaml") }
        let message = error?.description ?? ""
        #expect(message.contains("cluster.kubernetesVersion") && message.contains("a control character"), "\(message)")
        #expect(!message.unicodeScalars.contains { $0.value == 0x1b })
    }

    @Test func theBinariesVersionLineIsRead() {
        #expect(KubernetesVersion.fromVersionOutput("Kubernetes v1.20.2\n") == KubernetesVersion(major: 1, minor: 20, patch: 2))
        #expect(KubernetesVersion.fromVersionOutput("Kubernetes v1.20.2-dirty\n") == nil)
        #expect(KubernetesVersion.fromVersionOutput("Client Version: v1.20.2\n") == nil)
        #expect(KubernetesVersion.fromVersionOutput("") == nil)
    }

    @Test(arguments: [
        // (minor, runtime endpoint, scheduler config, EndpointSlice), each boundary and its neighbour.
        (20, KubernetesVersion.RuntimeEndpoint.remoteRuntimeFlags, "v1beta1", "discovery.k8s.io/v1beta1"),
        (21, .remoteRuntimeFlags, "v1beta1", "discovery.k8s.io/v1"),
        (22, .remoteRuntimeFlags, "v1beta2", "discovery.k8s.io/v1"),
        (23, .remoteRuntimeFlags, "v1beta3", "discovery.k8s.io/v1"),
        (24, .endpointFlag, "v1beta3", "discovery.k8s.io/v1"),
        (25, .endpointFlag, "v1", "discovery.k8s.io/v1"),
        (26, .endpointFlag, "v1", "discovery.k8s.io/v1"),
        (27, .configField, "v1", "discovery.k8s.io/v1"),
        (31, .configField, "v1", "discovery.k8s.io/v1"),
    ])
    func theTableAtEachBoundary(_ minor: Int, _ runtime: KubernetesVersion.RuntimeEndpoint, _ scheduler: String, _ slice: String) {
        let version = KubernetesVersion(major: 1, minor: minor, patch: 0)
        #expect(version.runtimeEndpoint == runtime)
        #expect(version.schedulerConfigAPIVersion == "kubescheduler.config.k8s.io/\(scheduler)")
        #expect(version.endpointSliceGroupVersion == slice)
    }

    func join(_ version: String) throws -> JoinFile {
        let text = sampleJoinFile(ca: NodeComponentsTests.fixedCA).replacingOccurrences(of: "v1.31.2", with: version)
        return try JoinFile.parse(text, file: "join.yaml", now: Date(timeIntervalSince1970: 1_800_000_000))
    }

    func rendered(_ version: String, _ path: String) throws -> String {
        try #require(NodeComponents.files(try join(version), NodeIdentity(name: "worker-1", ip: "192.0.2.11")).first { $0.path == path }).content
    }

    /// The kubelet finds containerd by two flags before 1.24, one flag from 1.24, the config field from 1.27.
    @Test(arguments: [("v1.20.2", "1.20"), ("v1.23.0", "1.20"), ("v1.24.0", "1.24"), ("v1.26.9", "1.24"), ("v1.27.0", "1.27")])
    func theKubeletsRuntimeEndpoint(_ version: String, _ row: String) throws {
        let unit = try rendered(version, NodePaths.kubeletUnit)
        let config = try rendered(version, NodePaths.kubeletConfig)
        try expectGolden(unit, "kubelet-\(row).service")
        try expectGolden(config, "kubelet-config-\(row).yaml")
        let parsed = try #require(try Yams.load(yaml: config) as? [String: Any])
        let inConfig = parsed["containerRuntimeEndpoint"] as? String
        let remote = unit.contains("--container-runtime=remote"), endpoint = unit.contains("--container-runtime-endpoint=\(NodePaths.containerdSocket)")
        switch row {
        case "1.20": #expect(inConfig == nil && remote && endpoint)
        case "1.24": #expect(inConfig == nil && !remote && endpoint)
        default: #expect(inConfig == NodePaths.containerdSocket && !remote && !unit.contains("--container-runtime"))
        }
    }

    @Test(arguments: [("v1.20.2", "v1beta1"), ("v1.22.0", "v1beta2"), ("v1.23.0", "v1beta3"), ("v1.25.0", "v1")])
    func theSchedulerConfigAtEachRow(_ text: String, _ apiVersion: String) throws {
        let config = ControlPlane.schedulerConfig(try #require(KubernetesVersion(text)))
        try expectGolden(config, "kube-scheduler-\(apiVersion).yaml")
        let parsed = try #require(try Yams.load(yaml: config) as? [String: Any])
        #expect(parsed["apiVersion"] as? String == "kubescheduler.config.k8s.io/\(apiVersion)")
        #expect(parsed["kind"] as? String == "KubeSchedulerConfiguration")
    }

    /// kube-scheduler serves plain HTTP on 0.0.0.0:10251 before 1.23, kube-controller-manager on :10252
    /// before 1.24, unless told --port=0; later releases have no such flag (and refuse it).
    @Test(arguments: [(20, true, true), (22, true, true), (23, false, true), (24, false, false), (31, false, false)])
    func theInsecurePortsAreTurnedOffWhereTheyExist(_ minor: Int, _ scheduler: Bool, _ manager: Bool) {
        var cluster = ControlPlane.Cluster(masterIP: "192.0.2.10", etcdEndpoints: ["https://192.0.2.10:2379"])
        cluster.version = KubernetesVersion(major: 1, minor: minor, patch: 0)
        #expect(ControlPlane.schedulerFlags(cluster).contains("--port=0") == scheduler)
        #expect(ControlPlane.controllerManagerFlags(cluster).contains("--port=0") == manager)
        #expect(!ControlPlane.apiServerFlags(cluster).contains { $0.hasPrefix("--insecure-port") }, "1.20's API server has no insecure port by default")
    }

    /// 1.20's API Priority and Fairness stalls requests on a starved CPU (its per-millisecond sampling
    /// runs under the lock every request takes): off for 1.20 only, the release where it was measured.
    @Test(arguments: [(20, true), (21, false), (31, false)])
    func priorityAndFairnessIsOffWhereItsSamplingStallsRequests(_ minor: Int, _ off: Bool) {
        var cluster = ControlPlane.Cluster(masterIP: "192.0.2.10", etcdEndpoints: ["https://192.0.2.10:2379"])
        cluster.version = KubernetesVersion(major: 1, minor: minor, patch: 0)
        #expect(ControlPlane.apiServerFlags(cluster).contains("--enable-priority-and-fairness=false") == off)
        #expect(ControlPlane.apiServerFlags(cluster).filter { $0.hasPrefix("--enable-priority-and-fairness") }.count == (off ? 1 : 0))
    }

    @Test func theClusterConfigsVersionReachesTheControlPlaneFiles() throws {
        let config = try ClusterConfig.parse("apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\ncluster:\n  kubernetesVersion: v1.20.2\n", file: "cluster.yaml")
        let cluster = config.controlPlaneCluster(masterIP: "192.0.2.10")
        #expect(cluster.version == KubernetesVersion(major: 1, minor: 20, patch: 2))
        let files = ControlPlane.files(cluster, caPEM: "", credentials: [:], encryptionKey: Array(repeating: 1, count: 32))
        let scheduler = try #require(files.first { $0.path == ControlPlane.schedulerConfigPath })
        #expect(scheduler.content.contains("apiVersion: kubescheduler.config.k8s.io/v1beta1\n"))
    }
}
