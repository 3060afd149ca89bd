import Foundation
import Testing
import Yams
@testable import KubeSeedCore

/// Unit tests (pure logic): rendered node-component files against golden files, re-parsed.
@Suite struct NodeComponentsTests {
    /// A fixed CA so golden files are stable (made once with swift-certificates for these tests).
    static let fixedCA = try! golden("test-ca.pem")
    let node = NodeIdentity(name: "worker-1", ip: "192.0.2.11")

    func join() throws -> JoinFile {
        try JoinFile.parse(sampleJoinFile(ca: Self.fixedCA), file: "join.yaml", now: Date(timeIntervalSince1970: 1_800_000_000))
    }

    func rendered(_ path: String) throws -> String {
        try #require(NodeComponents.files(try join(), node).first { $0.path == path }).content
    }

    @Test(arguments: [
        (NodePaths.containerdConfig, "containerd-config.toml"),
        ("/etc/containerd/certs.d/docker.io/hosts.toml", "hosts.toml"),
        (NodePaths.crictlConfig, "crictl.yaml"),
        (NodePaths.kubeletConfig, "kubelet-config.yaml"),
        (NodePaths.kubeProxyConfig, "kube-proxy-config.yaml"),
        (NodePaths.bootstrapKubeconfig, "kubelet-bootstrap.kubeconfig"),
        (NodePaths.kubeProxyKubeconfig, "kube-proxy.kubeconfig"),
        (NodePaths.kubeletUnit, "kubelet.service"),
        (NodePaths.kubeProxyUnit, "kube-proxy.service"),
        (APIBalancer.configPath, "api-balancer.cfg"),
        (APIBalancer.unitPath, "kubeseed-api-balancer.service"),
    ])
    func matchesGolden(_ path: String, _ goldenName: String) throws {
        try expectGolden(try rendered(path), goldenName)
    }

    @Test func secretsAre0600AndTheRestIs0644() throws {
        for file in NodeComponents.files(try join(), node) {
            let secret = file.path.hasSuffix(".kubeconfig")
            #expect(file.mode == (secret ? 0o600 : 0o644), "\(file.path)")
        }
    }

    /// Every key KubeSeed writes exists in the upstream Go types (see Golden/upstream-fields.txt).
    @Test func yamlReparsesWithUpstreamFieldNames() throws {
        let known = Set(try golden("upstream-fields.txt").split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init))
        for (path, kind) in [(NodePaths.kubeletConfig, "KubeletConfiguration"), (NodePaths.kubeProxyConfig, "KubeProxyConfiguration")] {
            let parsed = try #require(try Yams.load(yaml: try rendered(path)) as? [String: Any])
            #expect(parsed["kind"] as? String == kind)
            for key in leafPaths(parsed, stopAt: ["evictionHard"]) {
                #expect(known.contains("\(kind) \(key)"), "\(kind) field '\(key)' is not in the upstream types")
            }
        }
        let kubelet = try #require(try Yams.load(yaml: try rendered(NodePaths.kubeletConfig)) as? [String: Any])
        #expect(kubelet["cgroupDriver"] as? String == "systemd")
        #expect(kubelet["clusterDNS"] as? [String] == ["10.254.0.2"])
        #expect(kubelet["maxPods"] as? Int == 110)
        #expect(kubelet["address"] as? String == "192.0.2.11")
        let proxy = try #require(try Yams.load(yaml: try rendered(NodePaths.kubeProxyConfig)) as? [String: Any])
        #expect(proxy["hostnameOverride"] as? String == node.name)
        #expect((proxy["ipvs"] as? [String: Any])?["scheduler"] as? String == "wrr")
        #expect(proxy["clusterCIDR"] as? String == "172.30.0.0/16")
        // kubelet's --hostname-override is the same name.
        #expect(try rendered(NodePaths.kubeletUnit).contains("--hostname-override=worker-1"))
    }

    @Test func kubeconfigsCarryTheCAAndCredentials() throws {
        let bootstrap = try #require(try Yams.load(yaml: try rendered(NodePaths.bootstrapKubeconfig)) as? [String: Any])
        let clusters = try #require(bootstrap["clusters"] as? [[String: Any]])
        let cluster = try #require(clusters.first?["cluster"] as? [String: Any])
        // Through the node-local balancer, which has the join file's endpoint behind it.
        #expect(cluster["server"] as? String == "https://127.0.0.1:8443")
        #expect(try rendered(APIBalancer.configPath).contains("    server api-1 192.0.2.10:6443\n"))
        let caData = try #require(cluster["certificate-authority-data"] as? String)
        #expect(String(decoding: Data(base64Encoded: caData)!, as: UTF8.self) == Self.fixedCA)
        let users = try #require(bootstrap["users"] as? [[String: Any]])
        #expect((users.first?["user"] as? [String: Any])?["token"] as? String == "abcdef.0123456789abcdef")
        #expect(bootstrap["current-context"] as? String == "default")
    }

    /// TOML is re-parsed with Python's tomllib (the standard library's TOML reader) when python3 is there.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "needs /usr/bin/python3 for tomllib"))
    func tomlReparses() throws {
        let config = try rendered(NodePaths.containerdConfig)
        let parsed = try pythonTOML(config)
        #expect(parsed.contains("version=2"))
        #expect(parsed.contains("SystemdCgroup=True"))
        #expect(parsed.contains("bin_dir=/opt/cni/bin"))
        #expect(parsed.contains("config_path=/etc/containerd/certs.d"))
        let hosts = try pythonTOML(try rendered("/etc/containerd/certs.d/docker.io/hosts.toml"))
        #expect(hosts.contains("server=https://registry-1.docker.io"))
        #expect(hosts.contains("host.https://mirror.example.internal.capabilities=['pull', 'resolve']"))
    }

    func leafPaths(_ map: [String: Any], prefix: String = "", stopAt: Set<String>) -> [String] {
        map.flatMap { key, value -> [String] in
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if let nested = value as? [String: Any], !stopAt.contains(key) { return leafPaths(nested, prefix: path, stopAt: stopAt) }
            return [path]
        }
    }

    /// Flattens a TOML document to `dotted.key=value` lines with Python's tomllib.
    func pythonTOML(_ text: String) throws -> String {
        let script = """
        import sys, tomllib
        def walk(d, p=""):
            for k, v in d.items():
                key = p + k
                if isinstance(v, dict): walk(v, key + ".")
                else: print(f"{key}={v}")
        walk(tomllib.loads(sys.stdin.read()))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "tomllib rejected:\n\(text)")
        return String(decoding: data, as: UTF8.self)
    }
}

/// Unit tests (pure logic): the etcd unit.
@Suite struct EtcdUnitTests {
    @Test func matchesGolden() throws {
        let me = EtcdUnit.Member(name: "master-1", ip: "192.0.2.10")
        let text = EtcdUnit.render(this: me, cluster: [me, .init(name: "master-2", ip: "192.0.2.12")])
        try expectGolden(text, "etcd.service")
        #expect(text.contains("--client-cert-auth"))
        #expect(text.contains("--peer-client-cert-auth"))
        #expect(text.contains("--initial-cluster=master-1=https://192.0.2.10:2380,master-2=https://192.0.2.12:2380"))
        // No plaintext listener anywhere.
        #expect(!text.contains("http://"))
    }
}

/// A master that is also a node: what its agent renders from the join file `seed init` minted for it.
@Suite struct MasterJoinFileTests {
    @Test func theCACertificateTheNodeWritesIsTheMastersByteForByteSoItsPassRewritesNothingOfThePKI() throws {
        let ca = try golden("test-ca.pem")
        var cluster = ClusterConfig()
        cluster.masterName = "master-1"
        cluster.masterIP = "192.0.2.10"
        let request = JoinRequest(nodeName: "master-1", nodeIP: "192.0.2.10", roles: ["control-plane"], expires: Date().addingTimeInterval(3600))
        let text = JoinFile.render(cluster: cluster, caPEM: ca, token: BootstrapToken("abcdef.0123456789abcdef")!, request: request)
        let join = try JoinFile.parse(text, file: "join.yaml")
        let files = NodeComponents.files(join, NodeIdentity(name: "master-1", ip: "192.0.2.10"))
        #expect(files.first { $0.path == NodePaths.caCertificate }?.content == ca)
    }
}
