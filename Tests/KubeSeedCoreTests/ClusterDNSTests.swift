import Foundation
import Testing
@testable import KubeSeedCore

/// CoreDNS objects, pure: golden, re-parsed, configurable.
@Suite struct ClusterDNSTests {
    func config(_ extra: String = "") throws -> ClusterConfig {
        try ClusterConfig.parse("""
        apiVersion: kubeseed.io/v1alpha1
        kind: ClusterConfiguration
        cluster:
          clusterDNS: 10.254.0.2
          clusterDomain: cluster.local
        \(extra)
        """, file: "cluster.yaml")
    }

    static func rendered(_ requests: [APIRequest]) throws -> String {
        try requests.map { request in
            let object = try JSONSerialization.jsonObject(with: request.body ?? Data())
            let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            return "\(request.method.rawValue) \(request.path)\n\(String(decoding: pretty, as: UTF8.self))\n"
        }.joined(separator: "\n")
    }

    @Test func objectsMatchGolden() throws {
        try expectGolden(try Self.rendered(ClusterDNS.requests(try config())), "coredns-objects.txt")
    }

    @Test func theServiceIsAtClusterDNSAndTheCorefileServesClusterDomain() throws {
        var custom = try config()
        custom.clusterDNS = "10.96.0.10"
        custom.clusterDomain = "k8s.example"
        let requests = ClusterDNS.requests(custom)
        let service = try #require(requests.first { $0.object == "Service kube-system/kube-dns" })
        let spec = try #require((try JSONSerialization.jsonObject(with: service.body!) as? [String: Any])?["spec"] as? [String: Any])
        #expect(spec["clusterIP"] as? String == "10.96.0.10")
        let configMap = try #require(requests.first { $0.object == "ConfigMap kube-system/coredns" })
        let data = try #require((try JSONSerialization.jsonObject(with: configMap.body!) as? [String: Any])?["data"] as? [String: String])
        #expect(data["Corefile"]?.contains("kubernetes k8s.example in-addr.arpa ip6.arpa {") == true)
    }

    @Test func theImageComesFromTheClusterConfigAndABadOneIsRefusedWithFieldAndLine() throws {
        let mirrored = try config("  dnsImage: mirror.example.internal:5000/coredns/coredns:v1.11.3")
        #expect(mirrored.dnsImage == "mirror.example.internal:5000/coredns/coredns:v1.11.3")
        let deployment = try #require(ClusterDNS.requests(mirrored).first { $0.object == "Deployment kube-system/coredns" })
        #expect(String(decoding: deployment.body!, as: UTF8.self).contains("\"image\":\"mirror.example.internal:5000\\/coredns\\/coredns:v1.11.3\""))
        #expect(try config().dnsImage == ClusterDNS.defaultImage)
        do {
            _ = try config("  dnsImage: \"coredns --privileged\"")
            Issue.record("a bad image was accepted")
        } catch let error as ConfigError {
            #expect(error.field == "cluster.dnsImage" && error.line == 6, "\(error)")
        }
    }

    @Test func theRecordKeepsTheImage() throws {
        let mirrored = try config("  dnsImage: mirror.example.internal/coredns:1")
        #expect(try ClusterConfig.parse(mirrored.render(), file: "record").dnsImage == "mirror.example.internal/coredns:1")
    }

    @Test func aDeploymentRunningAnotherImageIsReportedNotChanged() throws {
        let deployment = try #require(ClusterDNS.requests(try config()).first { $0.object == "Deployment kube-system/coredns" }?.body)
        #expect(ClusterDNS.imageDrift(deployment: deployment, wanted: ClusterDNS.defaultImage) == nil)
        #expect(ClusterDNS.imageDrift(deployment: deployment, wanted: "mirror.example.internal/coredns:1")
                == "the coredns Deployment runs \(ClusterDNS.defaultImage), not cluster.dnsImage mirror.example.internal/coredns:1: left as it is "
                + "(kubectl -n kube-system set image deployment/coredns coredns=mirror.example.internal/coredns:1)")
        #expect(ClusterDNS.imageDrift(deployment: Data("{}".utf8), wanted: "x")?.contains("no coredns container") == true)
    }
}
