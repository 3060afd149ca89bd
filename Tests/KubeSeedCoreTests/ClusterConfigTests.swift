import Foundation
import Testing
import Yams
@testable import KubeSeedCore

/// Unit tests (pure logic): the cluster configuration `seed init` reads, the join files `seed join-file`
/// mints (parsed back with the agent's own parser), and the control plane's file set.
@Suite struct ClusterConfigTests {
    let file = "/etc/kubeseed/cluster.yaml"

    @Test func parsesAFullConfig() throws {
        let text = """
        apiVersion: kubeseed.io/v1alpha1
        kind: ClusterConfiguration
        cluster:
          name: prod
          kubernetesVersion: v1.31.2
          serviceCIDR: 10.96.0.0/12
          podCIDR: 10.244.0.0/16
          clusterDNS: 10.96.0.10
          clusterDomain: k8s.internal
          nodePortRange: 30000-32000
        master:
          name: master-1
          ip: 192.0.2.10
          extraSANs: [k8s.example.internal, 198.51.100.7]
        pki:
          keyAlgorithm: ecdsa
        binaries:
          serverArchive: /root/kubernetes-server-linux-amd64.tar.gz
          sha256: \(String(repeating: "AB", count: 32))
        host:
          timezone: Asia/Shanghai
        """
        let config = try ClusterConfig.parse(text, file: file)
        #expect(config.name == "prod")
        #expect(config.serviceCIDR == "10.96.0.0/12" && config.clusterDNS == "10.96.0.10")
        #expect(config.masterName == "master-1" && config.masterIP == "192.0.2.10")
        #expect(config.extraSANs == ["k8s.example.internal", "198.51.100.7"])
        #expect(config.keyAlgorithm == .ecdsaP256)
        #expect(config.serverArchiveSHA256 == String(repeating: "ab", count: 32))
        #expect(config.host.timezone == "Asia/Shanghai")
        #expect(config.apiServerEndpoint == "https://192.0.2.10:6443")
        let cluster = config.controlPlaneCluster(masterIP: "192.0.2.10")
        #expect(cluster.etcdEndpoints == ["https://192.0.2.10:2379"] && cluster.nodePortRange == "30000-32000")
    }

    @Test func minimalConfigTakesTheGuidesDefaults() throws {
        let config = try ClusterConfig.parse("apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\n", file: file)
        #expect(config == ClusterConfig())
        #expect(config.serviceCIDR == "10.254.0.0/16" && config.podCIDR == "172.30.0.0/16" && config.clusterDNS == "10.254.0.2")
    }

    @Test(arguments: [
        ("cluster:\n  serviceCIDR: 10.254.0.1/16\n", "cluster.serviceCIDR", 4),
        ("cluster:\n  kubernetesVersion: v1.16.0\n", "cluster.kubernetesVersion", 4),
        ("cluster:\n  nodePortRange: 32767-30000\n", "cluster.nodePortRange", 4),
        ("master:\n  ip: 192.0.2.300\n", "master.ip", 4),
        ("master:\n  name: Master_1\n", "master.name", 4),
        ("master:\n  extraSANs: [ok.example, 'bad name']\n", "master.extraSANs[1]", 4),
        ("pki:\n  keyAlgorithm: dsa\n", "pki.keyAlgorithm", 4),
        ("binaries:\n  serverArchive: relative.tar.gz\n", "binaries.serverArchive", 4),
        ("binaries:\n  sha256: abc\n", "binaries.sha256", 4),
        ("master:\n  ipp: 192.0.2.10\n", "master.ipp", 4),
        ("cluster:\n  clusterDNS: 10.0.0.10\n", "cluster.clusterDNS", nil),
    ] as [(String, String, Int?)])
    func badFieldsAreNamedWithTheirLine(_ body: String, _ field: String, _ line: Int?) {
        let text = "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\n" + body
        do {
            _ = try ClusterConfig.parse(text, file: file)
            Issue.record("accepted: \(body)")
        } catch let error as ConfigError {
            #expect(error.field == field, "\(error)")
            if let line { #expect(error.line == line, "\(error)") }
            #expect(error.description.contains(file))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func theRecordReadsBackToTheSameConfig() throws {
        var config = ClusterConfig()
        config.masterName = "master-1"
        config.masterIP = "192.0.2.10"
        config.extraSANs = ["k8s.example.internal"]
        config.keyAlgorithm = .ecdsaP256
        let text = config.render()
        _ = try Yams.load(yaml: text)
        #expect(try ClusterConfig.parse(text, file: ClusterConfig.recordPath) == config)
    }

    @Test func mintedJoinFileIsAcceptedByTheAgentsParser() throws {
        var config = ClusterConfig()
        config.name = "vmtest"
        config.masterIP = "192.0.2.10"
        config.host.timezone = "Asia/Shanghai"
        let ca = try golden("test-ca.pem")
        var generator = SystemRandomNumberGenerator()
        let token = BootstrapToken.generate(using: &generator)
        let expires = Date().addingTimeInterval(86400).rounded
        let text = JoinFile.render(cluster: config, caPEM: ca, token: token,
                                   request: JoinRequest(nodeName: "worker-1", nodeIP: "192.0.2.11", roles: ["worker", "edge"], expires: expires))
        let join = try JoinFile.parse(text, file: "/etc/kubeseed/join.yaml")
        #expect(join.clusterName == "vmtest" && join.kubernetesVersion == config.kubernetesVersion)
        #expect(join.apiServerEndpoints == ["https://192.0.2.10:6443"])
        #expect(join.caCertificatePEM == ca)
        #expect(join.token == token && join.tokenExpires == expires)
        #expect(join.containerd.sandboxImage == ContainerdSettings.defaultSandboxImage && !text.contains("containerd:"))
        #expect(join.nodeName == "worker-1" && join.nodeIP == "192.0.2.11" && join.roles == ["worker", "edge"])
        #expect(join.serviceCIDR == config.serviceCIDR && join.clusterDNS == config.clusterDNS)
        #expect(join.host.timezone == "Asia/Shanghai")
        #expect(text.hasPrefix("# Join file for node worker-1"))
    }

    @Test func aMastersJoinFileCarriesEveryAPIServerAndItsSealedSecretsAndReadsBack() throws {
        var config = ClusterConfig()
        config.masterIP = "192.0.2.11"
        let ca = try golden("test-ca.pem")
        let expires = Date().addingTimeInterval(7200).rounded
        var request = JoinRequest(nodeName: "master-3", nodeIP: "192.0.2.13", roles: ["control-plane"], expires: expires)
        request.apiServerEndpoints = ["https://192.0.2.11:6443", "https://192.0.2.12:6443"]
        request.controlPlane = ControlPlaneSecrets(sealed: Data(repeating: 7, count: 64).base64EncodedString(), expires: expires)
        let text = JoinFile.render(cluster: config, caPEM: ca, token: BootstrapToken("abcdef.0123456789abcdef")!, request: request)
        let join = try JoinFile.parse(text, file: "master-3.yaml")
        #expect(join.apiServerEndpoints == request.apiServerEndpoints!)
        #expect(join.controlPlane == request.controlPlane)
        #expect(join.controlPlane?.line != nil)
        #expect(text.hasPrefix("# Control-plane join file for master master-3"))

        // The section is only for a master with an IP: each other shape names the field.
        func error(_ text: String) -> String {
            do { _ = try JoinFile.parse(text, file: "m.yaml"); return "accepted" } catch { return "\(error)" }
        }
        #expect(error(text.replacingOccurrences(of: "- control-plane", with: "- worker")).contains("node.roles"))
        #expect(error(text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("  ip:") }.joined(separator: "\n")).contains("node.ip"))
        #expect(error(text.replacingOccurrences(of: request.controlPlane!.sealed, with: "bm90IHNlYWxlZA==")).contains("controlPlane.secrets"))
        #expect(error(text.replacingOccurrences(of: "  secrets:", with: "  secret:")).contains("controlPlane"))
    }

    @Test func generatedTokensAreWellFormedAndDistinct() {
        var generator = SystemRandomNumberGenerator()
        let tokens = (0..<200).map { _ in BootstrapToken.generate(using: &generator).secretValue }
        #expect(Set(tokens).count == 200)
        #expect(tokens.allSatisfy { BootstrapToken($0) != nil })
    }

    @Test func tokenRecordsRoundTripWithoutLosingTheSecret() throws {
        let record = TokenRecord(token: BootstrapToken("abcdef.0123456789abcdef")!, expires: Date(timeIntervalSince1970: 1_800_000_000), node: "worker-1")
        let back = try TokenRecord.decode(TokenRecord.encode([record]))
        #expect(back == [record])
        #expect(back[0].token.secretValue == "abcdef.0123456789abcdef")
    }

    @Test func controlPlaneFilesHaveTheirModesAndEmbeddedCredentials() throws {
        let cluster = ControlPlane.Cluster(masterIP: "192.0.2.10", etcdEndpoints: ["https://192.0.2.10:2379"])
        var credentials: [String: ControlPlane.Credential] = [:]
        for name in ["admin", "kube-controller-manager", "kube-scheduler", "kube-proxy"] {
            credentials[name] = ControlPlane.Credential(certificatePEM: "CERT \(name)\n", keyPEM: "KEY \(name)\n")
        }
        let key = (0..<32).map { UInt8($0) }
        let files = ControlPlane.files(cluster, caPEM: "CA\n", credentials: credentials, encryptionKey: key)
        let byPath = Dictionary(uniqueKeysWithValues: files.map { ($0.path, $0) })
        for secret in ["/etc/kubernetes/admin.kubeconfig", "/etc/kubernetes/kube-controller-manager.kubeconfig",
                       "/etc/kubernetes/kube-scheduler.kubeconfig", "/etc/kubernetes/kube-proxy-client.kubeconfig",
                       "/etc/kubernetes/encryption-config.yaml"] {
            #expect(byPath[secret]?.mode == 0o600, "\(secret) holds a key and must be 0600")
        }
        #expect(byPath["/etc/systemd/system/kube-apiserver.service"]?.restarts == ["kube-apiserver.service"])
        #expect(byPath["/etc/kubernetes/encryption-config.yaml"]?.restarts == ["kube-apiserver.service"])
        for file in files where file.path.hasSuffix(".kubeconfig") || file.path.hasSuffix(".yaml") {
            _ = try Yams.load(yaml: file.content)
        }
        let admin = try #require(try Yams.load(yaml: byPath["/etc/kubernetes/admin.kubeconfig"]!.content) as? [String: Any])
        let user = try #require(((admin["users"] as? [[String: Any]])?.first?["user"]) as? [String: String])
        #expect(Data(base64Encoded: user["client-certificate-data"]!) == Data("CERT admin\n".utf8))
        #expect(Data(base64Encoded: user["client-key-data"]!) == Data("KEY admin\n".utf8))
        let clusters = try #require(admin["clusters"] as? [[String: Any]])
        #expect((clusters[0]["cluster"] as? [String: String])?["server"] == "https://192.0.2.10:6443")
        let scheduler = try #require(try Yams.load(yaml: byPath["/etc/kubernetes/kube-scheduler.kubeconfig"]!.content) as? [String: Any])
        #expect(((scheduler["clusters"] as? [[String: Any]])?[0]["cluster"] as? [String: String])?["server"] == "https://127.0.0.1:8443", "the scheduler reaches the API servers through the node-local balancer")
        // The key survives a re-run: it is read back from the file this renderer wrote.
        #expect(ControlPlane.encryptionKey(in: byPath["/etc/kubernetes/encryption-config.yaml"]!.content) == key)
        #expect(ControlPlane.encryptionKey(in: "kind: EncryptionConfiguration\n") == nil)
    }

    @Test func controlPlaneUnitsWaitForTheirBinaries() {
        let units = ControlPlane.unitNames.map { ComponentPlanner.ManagedUnit($0, binary: String($0.dropLast(8)), installHint: "server archive") }
        let files = [RenderedFile("/etc/systemd/system/kube-apiserver.service", "[Unit]\n", restarts: ["kube-apiserver.service"])]
        let without = ComponentPlanner.plan(files, ComponentObservation(), units: units)
        #expect(without.steps.contains(.enableUnit("kube-apiserver.service")))
        #expect(!without.steps.contains(.startUnit("kube-apiserver.service")), "no start without the binary")
        #expect(without.items.first { $0.name == "kube-apiserver.service" }?.state == .warn)
        var observed = ComponentObservation()
        observed.binaries = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
        let with = ComponentPlanner.plan(files, observed, units: units)
        #expect(ControlPlane.unitNames.allSatisfy { with.steps.contains(.startUnit($0)) })
        #expect(with.steps.filter { $0 == .reloadSystemd }.count == 1)
    }

    /// What a re-run of `seed init` may not change in place, as a table: each fixed field changed alone
    /// is named with both values; what may change, or does not really change, is no change.
    @Test(arguments: [
        ("cluster.name", "cluster.name"), ("cluster.serviceCIDR", "cluster.serviceCIDR"), ("cluster.podCIDR", "cluster.podCIDR"),
        ("cluster.clusterDomain", "cluster.clusterDomain"), ("cluster.clusterDNS", "cluster.clusterDNS"), ("master.ip", "master.ip"),
        ("master.name", "master.name"), ("host.dataDir", "host.dataDir"),
        ("master.name unset", ""), ("pki.keyAlgorithm", ""), ("cluster.kubernetesVersion", ""),
    ])
    func aRerunMayNotChangeWhatTheMasterWasSetUpWith(change: String, refusedField: String) {
        var before = ClusterConfig()
        before.masterName = "master-1"
        before.masterIP = "192.0.2.10"
        var after = before
        switch change {
        case "cluster.name": after.name = "other"
        case "cluster.serviceCIDR": after.serviceCIDR = "10.96.0.0/12"
        case "cluster.podCIDR": after.podCIDR = "10.244.0.0/16"
        case "cluster.clusterDomain": after.clusterDomain = "example.internal"
        case "cluster.clusterDNS": after.clusterDNS = "10.254.0.10"
        case "master.ip": after.masterIP = "192.0.2.99"
        case "master.name": after.masterName = "master-9"
        case "host.dataDir": after.host.dataDir = "/srv/k8s"
        case "master.name unset": after.masterName = nil
        case "pki.keyAlgorithm": after.keyAlgorithm = .ecdsaP256
        default: after.kubernetesVersion = "v1.21.0"
        }
        let found = after.fixedFieldChange(from: before)
        #expect(found?.field ?? "" == refusedField, "\(change)")
        if let found { #expect(found.old != found.new) }
    }

    @Test func theSameIPWrittenAnotherWayIsNoChange() {
        var before = ClusterConfig()
        before.masterIP = "2001:db8::10"
        var after = before
        after.masterIP = "2001:db8:0:0::10"
        #expect(after.fixedFieldChange(from: before) == nil)
    }
}

extension Date {
    /// Whole seconds, as RFC 3339 in a join file keeps them.
    var rounded: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }

    /// An air-gapped cluster's pause image reaches every node's containerd through the join files, and
    /// survives the record a joined master reads.
    @Test func theClustersSandboxImageIsCarriedByEveryJoinFile() throws {
        let text = "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\ncluster:\n  sandboxImage: kubeseed.local/pause:3.4.1\nmaster:\n  name: master-1\n  ip: 192.0.2.10\n"
        let config = try ClusterConfig.parse(text, file: "cluster.yaml")
        #expect(config.sandboxImage == "kubeseed.local/pause:3.4.1")
        #expect(try ClusterConfig.parse(config.render(), file: "record").sandboxImage == config.sandboxImage)
        let minted = JoinFile.render(cluster: config, caPEM: try golden("test-ca.pem"), token: BootstrapToken("abcdef.0123456789abcdef")!,
                                     request: JoinRequest(nodeName: "worker-1", expires: Date().addingTimeInterval(3600).rounded))
        let join = try JoinFile.parse(minted, file: "worker-1.yaml")
        #expect(join.containerd.sandboxImage == "kubeseed.local/pause:3.4.1")
        #expect(NodeComponents.containerdConfig(join).contains("sandbox_image = \"kubeseed.local/pause:3.4.1\""))
        let bad = text.replacingOccurrences(of: "kubeseed.local/pause:3.4.1", with: "\"pause 3\"")
        let error = #expect(throws: ConfigError.self) { try ClusterConfig.parse(bad, file: "cluster.yaml") }
        #expect(error?.description.contains("cluster.sandboxImage") == true && error?.description.contains("4") == true, "\(String(describing: error))")
    }
}
