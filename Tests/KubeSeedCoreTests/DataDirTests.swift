import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): `host.dataDir` is one field every data path derives from, and an explicit
/// path in the join file wins over it.
@Suite struct DataDirTests {
    func joinFile(host: String, extra: String = "") throws -> JoinFile {
        let text = sampleJoinFile(extra: extra).replacingOccurrences(of: "host:\n  timezone: Asia/Shanghai", with: "host:\n" + host)
        return try JoinFile.parse(text, file: "/etc/kubeseed/join.yaml")
    }

    @Test func joinFilePathsFollowDataDir() throws {
        let join = try joinFile(host: "  dataDir: /srv/k8s\n")
        #expect(join.host.dataDir == "/srv/k8s")
        #expect(join.containerd.root == "/srv/k8s/containerd/root")
        #expect(join.kubelet.rootDir == "/srv/k8s/k8s/kubelet")
        #expect(join.host.directories.contains(DirectorySetting("/srv/k8s/etcd/data", mode: 0o700)))
        #expect(!join.host.directories.contains { $0.path.hasPrefix("/data/k8s") })
        let node = NodeIdentity(name: "worker-1", ip: "192.0.2.11")
        #expect(NodeComponents.containerdConfig(join).contains("root = \"/srv/k8s/containerd/root\""))
        #expect(NodeComponents.kubeletUnit(join, node).contains("--root-dir=/srv/k8s/k8s/kubelet"))
        #expect(NodeComponents.kubeletUnit(join, node).contains("WorkingDirectory=/srv/k8s/k8s/kubelet"))
    }

    @Test func explicitPathsWinOverDataDir() throws {
        let join = try joinFile(host: "  dataDir: /srv/k8s\n", extra: "").self
        #expect(join.containerd.root == "/srv/k8s/containerd/root")
        let text = sampleJoinFile()
            .replacingOccurrences(of: "host:\n  timezone: Asia/Shanghai", with: "host:\n  dataDir: /srv/k8s\n")
            .replacingOccurrences(of: "containerd:\n", with: "containerd:\n  root: /var/lib/containerd\n")
            .replacingOccurrences(of: "kubelet:\n", with: "kubelet:\n  rootDir: /var/lib/kubelet\n")
        let explicit = try JoinFile.parse(text, file: "/etc/kubeseed/join.yaml")
        #expect(explicit.containerd.root == "/var/lib/containerd")
        #expect(explicit.kubelet.rootDir == "/var/lib/kubelet")
    }

    @Test func defaultDataDirKeepsTheGuidesLayout() throws {
        let join = try JoinFile.parse(sampleJoinFile(), file: "/etc/kubeseed/join.yaml")
        #expect(join.host.dataDir == "/data/k8s")
        #expect(join.containerd.root == "/data/k8s/containerd/root")
        #expect(join.kubelet.rootDir == "/data/k8s/k8s/kubelet")
    }

    @Test func controlPlaneAndEtcdFollowDataDir() throws {
        var config = ClusterConfig()
        config.host.dataDir = "/srv/k8s"
        config.masterName = "master-1"
        config.masterIP = "192.0.2.10"
        let cluster = config.controlPlaneCluster(masterIP: "192.0.2.10")
        #expect(cluster.dataDir == "/srv/k8s/k8s")
        #expect(ControlPlane.apiServerFlags(cluster).contains("--audit-log-path=/srv/k8s/k8s/kube-apiserver/audit.log"))
        #expect(ControlPlane.directories(cluster).allSatisfy { $0.path.hasPrefix("/srv/k8s/k8s/") })
        let member = EtcdUnit.Member(name: "master-1", ip: "192.0.2.10")
        let unit = EtcdUnit.render(this: member, cluster: [member], settings: config.host)
        #expect(unit.contains("--data-dir=/srv/k8s/etcd/data") && unit.contains("--wal-dir=/srv/k8s/etcd/wal"))
        #expect(unit.contains("WorkingDirectory=/srv/k8s/etcd/data"))
        #expect(!unit.contains("/data/k8s"))
    }

    @Test func theRecordKeepsDataDirAndTimezoneAndTheJoinFileCarriesTheZone() throws {
        var config = ClusterConfig()
        config.masterName = "master-1"
        config.masterIP = "192.0.2.10"
        config.host.dataDir = "/srv/k8s"
        config.host.timezone = "Asia/Shanghai"
        let recorded = try ClusterConfig.parse(config.render(), file: ClusterConfig.recordPath)
        #expect(recorded.host.dataDir == "/srv/k8s")
        #expect(recorded.host.timezone == "Asia/Shanghai")
        let token = try #require(BootstrapToken("abcdef.0123456789abcdef"))
        let text = JoinFile.render(cluster: recorded, caPEM: TestPKI.ca, token: token,
                                   request: JoinRequest(nodeName: "worker-1", expires: Date().addingTimeInterval(3600)))
        let join = try JoinFile.parse(text, file: "/var/lib/kubeseed/join-files/worker-1.yaml")
        #expect(join.host.timezone == "Asia/Shanghai")
    }

    @Test(arguments: ["relative/path", "/srv/k8s\r", "/srv/k 8s", "/srv/%H", "/srv/$HOME", "/srv/\"x\"", "/srv/\u{85}x", "/srv/../etc", "/"])
    func pathsThatCouldInjectAreRefusedWithoutEchoingControlCharacters(_ path: String) throws {
        let yaml = "apiVersion: kubeseed.io/v1alpha1\nkind: AgentConfig\nhost:\n  dataDir: \"\(path.replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\r", with: "\\r"))\"\n"
        #expect {
            _ = try AgentConfig.parse(yaml, file: "/etc/kubeseed/agent.yaml")
        } throws: { error in
            let text = "\(error)"
            return text.contains("host.dataDir") && text.contains(":4:") && !text.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }
        }
    }
}
