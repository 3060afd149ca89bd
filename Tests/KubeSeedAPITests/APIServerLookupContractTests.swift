import Foundation
import Testing
import X509
@testable import KubeSeedAPI
@testable import KubeSeedCore
@testable import KubeSeedPKI

/// Contract test of the agent's refresh of its balancer's API servers: the request to the mutual-TLS
/// test server (playing the API server behind the balancer), made with a kubelet-style credential
/// (certificate and key in one PEM file), and how the EndpointSliceList answer is read.
@Suite struct APIServerLookupContractTests {
    static let slices = """
    {"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","items":[
      {"metadata":{"name":"kubernetes","namespace":"default","labels":{"kubernetes.io/service-name":"kubernetes"}},
       "addressType":"IPv4","ports":[{"name":"https","port":6443,"protocol":"TCP"}],
       "endpoints":[{"addresses":["192.0.2.13"],"conditions":{"ready":true}},{"addresses":["192.0.2.11"]},
                    {"addresses":["192.0.2.14"],"conditions":{"ready":false}},{"addresses":["192.0.2.12"],"conditions":{"ready":true}}]}]}
    """

    @Test(arguments: [("v1.31.2", "v1"), ("v1.21.0", "v1"), ("v1.20.2", "v1beta1")])
    func theNodeAsksForTheKubernetesEndpointSliceWithItsOwnCertificateAndGetsTheReadyServers(version: String, sliceVersion: String) async throws {
        let pki = try ContractTests.PKI()
        let (nodeCert, nodeKey) = try pki.ca.issue(CertificateSpec(name: "kubelet", commonName: "system:node:worker-1", organization: "system:nodes", usage: .client), .ecdsaP256)
        let kubeletFile = nodeCert.pem + nodeKey.pem
        let identity = TLSIdentity(caPEM: pki.ca.certificate.pem, certificatePEM: APIServerLookup.pemBlocks(kubeletFile, kind: "CERTIFICATE"),
                                   keyPEM: APIServerLookup.pemBlocks(kubeletFile, kind: "PRIVATE KEY"))
        #expect(identity.certificatePEM == nodeCert.pem && identity.keyPEM == nodeKey.pem + "\n")
        let server = try await RecordingServer(certificatePEM: pki.server.cert, keyPEM: pki.server.key, clientCAPEM: pki.ca.certificate.pem) { _ in (200, Self.slices) }
        let client = try MutualTLSClient(baseURL: "https://127.0.0.1:\(server.port)", identity: identity)
        let found = try await APIServerLookup.fetch(client, version: try #require(KubernetesVersion(version)))
        #expect(found == ["https://192.0.2.11:6443", "https://192.0.2.12:6443", "https://192.0.2.13:6443"])
        let request = try #require(server.requests.first)
        #expect(request.method == "GET")
        #expect(request.uri == "/apis/discovery.k8s.io/\(sliceVersion)/namespaces/default/endpointslices?fieldSelector=metadata.name%3Dkubernetes")
        #expect(request.clientCertificateDER.flatMap { try? Certificate(derEncoded: $0) } == nodeCert)
        await client.shutdown()
        try await server.stop()
    }

    @Test func aRefusalIsAnErrorAndAListWithoutReadyServersNamesNone() async throws {
        let pki = try ContractTests.PKI()
        for (status, body) in [(403, #"{"kind":"Status","message":"forbidden"}"#), (200, #"{"kind":"EndpointSliceList","items":[]}"#)] {
            let server = try await RecordingServer(certificatePEM: pki.server.cert, keyPEM: pki.server.key, clientCAPEM: pki.ca.certificate.pem) { _ in (status, body) }
            let client = try MutualTLSClient(baseURL: "https://127.0.0.1:\(server.port)", identity: pki.adminIdentity)
            if status == 403 {
                await #expect(throws: APIError.self) { try await APIServerLookup.fetch(client, version: .newestTabled) }
            } else {
                #expect(try await APIServerLookup.fetch(client, version: .newestTabled) == nil)
            }
            await client.shutdown()
            try await server.stop()
        }
        #expect(APIServerDiscovery.endpoints(in: Data(#"{"items":[{"ports":[{"port":6443}],"endpoints":[{"addresses":["2001:db8::1"]}]}]}"#.utf8))
                == ["https://[2001:db8::1]:6443"])
        // The named slice itself, as GET returns it.
        #expect(APIServerDiscovery.endpoints(in: Data(#"{"kind":"EndpointSlice","ports":[{"name":"https","port":6443}],"endpoints":[{"addresses":["192.0.2.12"]}]}"#.utf8))
                == ["https://192.0.2.12:6443"])
        #expect(APIServerDiscovery.endpoints(in: Data(#"{"items":[{"ports":[{"port":6443}],"endpoints":[{"addresses":["x;rm -rf /"]}]}]}"#.utf8)) == nil)
    }
}
