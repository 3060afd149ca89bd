import Foundation
import SwiftASN1
import Testing
import X509
@testable import KubeSeedCore
@testable import KubeSeedPKI

/// Unit tests (real crypto, no host): every certificate of the set parsed back from PEM and checked.
@Suite struct PKITests {
    let parameters = PKIParameters(masterIPs: ["192.0.2.10"], etcdIPs: ["192.0.2.10", "192.0.2.12"],
                                   serviceCIDR: "10.254.0.0/16", clusterDomain: "cluster.local")

    @Test func firstServiceIP() {
        #expect(parameters.firstServiceIP == "10.254.0.1")
        #expect(PKIParameters(masterIPs: [], etcdIPs: [], serviceCIDR: "fd00:10::/108", clusterDomain: "x").firstServiceIP == "fd00:10:0:0:0:0:0:1")
    }

    @Test(arguments: KeyAlgorithm.allCases)
    func everyCertificateChainsToTheCAWithTheRightNames(_ algorithm: KeyAlgorithm) throws {
        let now = Date()
        let ca = try Issuer.makeCA(algorithm, now: now)
        let caBack = try Certificate(pemEncoded: ca.certificate.pem)
        #expect(caBack.subject.description.contains("CN=kubernetes-ca"))
        #expect(try caBack.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: nil))
        #expect(try caBack.extensions.keyUsage?.keyCertSign == true)
        #expect(caBack.publicKey.isValidSignature(caBack.signature, for: caBack))

        for spec in ClusterPKI.specs(parameters) {
            let (leaf, key) = try ca.issue(spec, algorithm, now: now)
            let back = try Certificate(pemEncoded: leaf.pem)
            // The key in the file matches the certificate.
            #expect(try PrivateKey(pem: key.pem).certificateKey.publicKey == back.publicKey, "\(spec.name)")
            // Chain: issued by the CA, signed with its key.
            #expect(back.issuer == caBack.subject)
            #expect(caBack.publicKey.isValidSignature(back.signature, for: back), "\(spec.name) not signed by the CA")
            // Names.
            let subject = back.subject.description
            #expect(subject.contains("CN=\(spec.commonName)"), "\(spec.name): \(subject)")
            if let organization = spec.organization { #expect(subject.contains("O=\(organization)"), "\(spec.name): \(subject)") }
            #expect(Set(back.subjectAlternativeNameStrings) == Set(spec.dnsNames + spec.ipAddresses), "\(spec.name)")
            // Usages.
            #expect(try back.extensions.basicConstraints == .notCertificateAuthority)
            let usage = try #require(try back.extensions.keyUsage)
            #expect(usage.digitalSignature && usage.keyEncipherment && !usage.keyCertSign)
            let eku = try #require(try back.extensions.extendedKeyUsage)
            switch spec.usage {
            case .server: #expect(Array(eku) == [.serverAuth])
            case .client: #expect(Array(eku) == [.clientAuth])
            case .serverAndClient, .ca: #expect(Array(eku) == [.serverAuth, .clientAuth])
            }
            // Validity: starts (backdated) before now, ends within the CA's.
            #expect(back.notValidBefore < now && now < back.notValidAfter)
            #expect(back.notValidAfter <= caBack.notValidAfter)
        }
    }

    @Test func apiServerCertificateHasEveryName() throws {
        let spec = try #require(ClusterPKI.specs(parameters).first { $0.name == "kube-apiserver" })
        #expect(spec.dnsNames == ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster",
                                  "kubernetes.default.svc.cluster.local"])
        #expect(spec.ipAddresses == ["127.0.0.1", "192.0.2.10", "10.254.0.1"])
    }

    @Test func rolesMatchWhatKubernetesAuthorizes() {
        let specs = Dictionary(uniqueKeysWithValues: (ClusterPKI.specs(parameters) + ClusterPKI.etcdSpecs(parameters)).map { ($0.name, $0) })
        // The etcd CA signs exactly etcd's certificates and the API server's client certificate for etcd.
        #expect(Set(ClusterPKI.etcdSpecs(parameters).map(\.name)) == ["etcd-server", "etcd-peer", "apiserver-etcd-client"])
        #expect(Set(ClusterPKI.specs(parameters).map(\.name)).isDisjoint(with: ClusterPKI.etcdSpecs(parameters).map(\.name)))
        #expect(specs["kube-controller-manager"]?.commonName == "system:kube-controller-manager")
        #expect(specs["kube-controller-manager"]?.organization == "system:kube-controller-manager")
        #expect(specs["kube-scheduler"]?.commonName == specs["kube-scheduler"]?.organization)
        #expect(specs["admin"]?.organization == "system:masters")
        #expect(specs["apiserver-kubelet-client"]?.organization == nil, "the kubelet client gets its rights from a binding, not from system:masters")
        #expect(specs["kube-proxy"]?.commonName == "system:kube-proxy")
        #expect(specs["front-proxy-client"]?.commonName == "aggregator")
        // Separate client certificates for etcd and kubelets (the guide reused one for all three).
        #expect(specs["apiserver-etcd-client"] != nil && specs["apiserver-kubelet-client"] != nil)
        #expect(specs["etcd-server"]?.ipAddresses == ["127.0.0.1", "192.0.2.10", "192.0.2.12"])
    }

    @Test(arguments: KeyAlgorithm.allCases)
    func keysRoundTripThroughPEM(_ algorithm: KeyAlgorithm) throws {
        let key = try PrivateKey.generate(algorithm)
        let back = try PrivateKey(pem: key.pem)
        #expect(back.pem == key.pem)
        #expect(key.publicKeyPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
    }
}
