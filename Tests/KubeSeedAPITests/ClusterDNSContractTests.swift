import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import KubeSeedAPI
@testable import KubeSeedCore

/// CoreDNS through the API client against the mutual-TLS test server: each object POSTed to its
/// collection as JSON, and on a re-run (409 Already Exists) nothing is changed or replaced. What an API
/// server and the scheduler then do with them needs Kubernetes, which is not here.
@Suite struct ClusterDNSContractTests {
    @Test func coreDNSIsCreatedOnceAndARerunLeavesEveryObjectAlone() async throws {
        let pki = try ContractTests.PKI()
        var config = ClusterConfig()
        config.clusterDNS = "10.254.0.2"
        let requests = ClusterDNS.requests(config)
        let created = NIOLockedValueBox(Set<String>())
        try await ContractTests().withServer(pki, responder: { request in
            // As the API server: an object is there (200) once created (201); a second create is 409.
            if request.method == "GET" { return created.withLockedValue { $0.contains(request.uri) } ? (200, "{}") : (404, "{}") }
            let name = (request.json?["metadata"] as? NSDictionary)?["name"] as? String ?? ""
            return created.withLockedValue { $0.insert(request.uri + "/" + name).inserted } ? (201, "{}") : (409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\"}")
        }) { server, client in
            var first: [ObjectApplier.Outcome] = []
            for request in requests { first.append(try await ObjectApplier.apply(request, with: client)) }
            var second: [ObjectApplier.Outcome] = []
            for request in requests { second.append(try await ObjectApplier.apply(request, with: client)) }
            #expect(first == Array(repeating: .created, count: 6))
            #expect(second == Array(repeating: .exists, count: 6))
            let received = server.requests
            // Each object is looked up by name first; the re-run only looks (no POST at all).
            #expect(received.map(\.method) == Array(repeating: ["GET", "POST"], count: 6).flatMap { $0 } + Array(repeating: "GET", count: 6))
            let posts = received.filter { $0.method == "POST" }
            #expect(posts.allSatisfy { $0.contentType == "application/json" })
            #expect(posts.map(\.uri) == [
                "/api/v1/namespaces/kube-system/serviceaccounts",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                "/api/v1/namespaces/kube-system/configmaps",
                "/apis/apps/v1/namespaces/kube-system/deployments",
                "/api/v1/namespaces/kube-system/services",
            ])
            #expect(received.prefix(2).map(\.uri) == ["/api/v1/namespaces/kube-system/serviceaccounts/coredns", "/api/v1/namespaces/kube-system/serviceaccounts"])
            let deployment = try #require(posts.first { $0.uri.hasSuffix("/deployments") }?.json)
            #expect((deployment["spec"] as? NSDictionary)?["replicas"] as? Int == 2)
            let service = try #require(posts.first { $0.uri.hasSuffix("/services") }?.json)
            #expect((service["spec"] as? NSDictionary)?["clusterIP"] as? String == "10.254.0.2")
        }
    }
}
