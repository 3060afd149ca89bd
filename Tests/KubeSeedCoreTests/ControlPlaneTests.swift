import Foundation
import Testing
import Yams
@testable import KubeSeedCore

/// Unit tests (pure logic): control-plane units and configs against golden files, re-parsed.
@Suite struct ControlPlaneTests {
    let cluster = ControlPlane.Cluster(masterIP: "192.0.2.10", etcdEndpoints: ["https://192.0.2.10:2379"])

    /// Flags the guide (Kubernetes 1.16) used that current Kubernetes rejects or ignores.
    static let removedFlags = [
        "--insecure-port", "--insecure-bind-address", "--enable-swagger-ui", "--kubelet-https", "--basic-auth-file",
        "--experimental-encryption-provider-config", "--repair-malformed-updates", "--experimental-cluster-signing-duration",
        "--port=", "--address=", "--apiserver-count", "--target-ram-mb", "--alsologtostderr", "--logtostderr", "--log-dir",
        "--feature-gates=RotateKubeletServerCertificate",
    ]

    @Test func unitsMatchGoldenAndUseNoRemovedFlag() throws {
        for (path, content) in ControlPlane.units(cluster) {
            let name = (path as NSString).lastPathComponent
            try expectGolden(content, name)
            for removed in Self.removedFlags {
                #expect(!content.contains(removed), "\(name) uses \(removed), which current Kubernetes no longer has")
            }
            let flags = content.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("--") }
                .map { String($0.split(separator: "=").first!) }
            #expect(Set(flags).count == flags.count, "\(name) repeats a flag")
        }
    }

    @Test func apiServerWiring() {
        let flags = ControlPlane.apiServerFlags(cluster)
        #expect(flags.contains("--etcd-certfile=/etc/kubernetes/cert/apiserver-etcd-client.pem"))
        #expect(flags.contains("--kubelet-client-certificate=/etc/kubernetes/cert/apiserver-kubelet-client.pem"))
        #expect(flags.contains("--service-account-signing-key-file=/etc/kubernetes/cert/sa.key"))
        #expect(flags.contains("--enable-bootstrap-token-auth=true"))
        #expect(flags.contains("--authorization-mode=Node,RBAC"))
        #expect(ControlPlane.controllerManagerFlags(cluster).contains("--controllers=*,bootstrapsigner,tokencleaner"))
    }

    @Test func configsMatchGoldenAndReparse() throws {
        let key = (0..<32).map { UInt8($0) }
        let encryption = ControlPlane.encryptionConfig(key: key)
        try expectGolden(encryption, "encryption-config.yaml")
        let parsed = try #require(try Yams.load(yaml: encryption) as? [String: Any])
        #expect(parsed["kind"] as? String == "EncryptionConfiguration")
        let resources = try #require(parsed["resources"] as? [[String: Any]])
        let providers = try #require(resources.first?["providers"] as? [[String: Any]])
        let keys = try #require((providers.first?["aescbc"] as? [String: Any])?["keys"] as? [[String: Any]])
        #expect(Data(base64Encoded: keys.first?["secret"] as? String ?? "").map(Array.init) == key)

        let audit = ControlPlane.auditPolicy()
        try expectGolden(audit, "audit-policy.yaml")
        #expect((try Yams.load(yaml: audit) as? [String: Any])?["kind"] as? String == "Policy")

        let scheduler = ControlPlane.schedulerConfig(.newestTabled)
        try expectGolden(scheduler, "kube-scheduler.yaml")
        let schedulerParsed = try #require(try Yams.load(yaml: scheduler) as? [String: Any])
        #expect(schedulerParsed["apiVersion"] as? String == "kubescheduler.config.k8s.io/v1")
        #expect((schedulerParsed["leaderElection"] as? [String: Any])?["leaderElect"] as? Bool == true)
    }

    @Test func kubeconfigWithEmbeddedCertificate() throws {
        let text = NodeComponents.kubeconfig(cluster: "kubernetes", server: "https://192.0.2.10:6443", caPEM: "CA\n", user: "admin", credentials: [
            ("client-certificate-data", .string(Data("CERT\n".utf8).base64EncodedString())),
            ("client-key-data", .string(Data("KEY\n".utf8).base64EncodedString())),
        ], header: ControlPlane.header)
        let parsed = try #require(try Yams.load(yaml: text) as? [String: Any])
        let user = try #require(((parsed["users"] as? [[String: Any]])?.first?["user"]) as? [String: Any])
        #expect(user["client-certificate-data"] as? String == "Q0VSVAo=")
        #expect(user["client-key-data"] as? String == "S0VZCg==")
    }
}
