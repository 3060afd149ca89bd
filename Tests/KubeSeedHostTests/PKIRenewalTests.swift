import Foundation
import KubeSeedCore
import KubeSeedPKI
import X509
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// Renewal written for real into a temporary root (ECDSA and RSA keys).
@Suite struct PKIRenewalTests {
    let parameters = PKIParameters(masterIPs: ["192.0.2.10"], etcdIPs: ["192.0.2.10"], serviceCIDR: "10.254.0.0/16", clusterDomain: "cluster.local")

    func made(_ algorithm: KeyAlgorithm) throws -> (TemporaryHost, PKIStore) {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/etc/kubernetes/cert"), withIntermediateDirectories: true)
        let store = PKIStore(root: host.root)
        _ = try store.ensure(parameters, algorithm: algorithm, journal: try ChangeJournal(root: host.root))
        return (host, store)
    }

    func read(_ host: TemporaryHost, _ name: String) throws -> Certificate {
        try Certificate(pemEncoded: try #require(try host.root.readText("/etc/kubernetes/cert/\(name).pem")))
    }

    @Test(arguments: [KeyAlgorithm.ecdsaP256, .rsa2048])
    func aRenewalKeepsTheCAAlgorithmAndNamesAndCurrentIPsAndTouchesNothingElse(_ algorithm: KeyAlgorithm) throws {
        let (host, store) = try made(algorithm)
        let before = try host.snapshot()
        var moved = parameters
        moved.masterIPs = ["192.0.2.99"]
        let later = Date().addingTimeInterval(400 * 86400)
        let renewed = try store.renew(["kube-apiserver", "etcd-peer"], moved, journal: try ChangeJournal(root: host.root), now: later)
        #expect(renewed.map(\.name) == ["kube-apiserver", "etcd-peer"])
        let server = try read(host, "kube-apiserver"), peer = try read(host, "etcd-peer")
        let ca = try read(host, "ca"), etcdCA = try read(host, "etcd-ca")
        #expect(server.isSigned(by: ca) && peer.isSigned(by: etcdCA))
        #expect(server.subjectAlternativeNameStrings.contains("192.0.2.99"), "the names the cluster asks for now")
        #expect(server.notValidAfter > later.addingTimeInterval(4 * 365 * 86400))
        let key = try PrivateKey(pem: try #require(try host.root.readText("/etc/kubernetes/cert/kube-apiserver-key.pem")))
        #expect(key.algorithm == algorithm && key.matches(server))
        let after = try host.snapshot()
        let changed = Set(after.keys.filter { after[$0] != before[$0] })
        #expect(changed == ["/etc/kubernetes/cert/kube-apiserver.pem", "/etc/kubernetes/cert/kube-apiserver-key.pem",
                            "/etc/kubernetes/cert/etcd-peer.pem", "/etc/kubernetes/cert/etcd-peer-key.pem", Journal.defaultPath], "\(changed)")
    }

    @Test func dueFindsOnlyLeavesInsideTheWindow() throws {
        let (host, store) = try made(.ecdsaP256)
        defer { withExtendedLifetime(host) {} }
        #expect(try store.due(parameters, window: 30 * 86400).isEmpty)
        let inFiveYears = Date().addingTimeInterval(5 * 365.25 * 86400 - 10 * 86400)
        #expect(try store.due(parameters, window: 30 * 86400, now: inFiveYears) == ClusterPKI.leafNames)
        #expect(ClusterPKI.leafSpecs(parameters).map(\.name) == ClusterPKI.leafNames)
    }

    @Test func theCAsAreNeverRenewedAndAForeignCertificateIsRefused() throws {
        let (host, store) = try made(.ecdsaP256)
        let journal = try ChangeJournal(root: host.root)
        #expect(throws: HostError.self) { try store.renew(["ca"], parameters, journal: journal) }
        // A pair from another CA in a leaf's place.
        let other = try Issuer.makeCA(.ecdsaP256, commonName: "someone-else")
        let (certificate, key) = try other.issue(ClusterPKI.specs(parameters).first { $0.name == "admin" }!, .ecdsaP256)
        try host.root.writeAtomically([("/etc/kubernetes/cert/admin.pem", Data(certificate.pem.utf8), 0o644), ("/etc/kubernetes/cert/admin-key.pem", Data(key.pem.utf8), 0o600)])
        let before = try host.snapshot()
        let error = #expect(throws: HostError.self) { try store.renew(["kube-proxy", "admin"], parameters, journal: journal) }
        #expect(error?.description.contains("admin.pem is not signed by this cluster's CA") == true, "\(String(describing: error))")
        #expect(try host.snapshot() == before)
    }

    @Test func theRestartOrderIsEtcdThenTheAPIServerThenTheRest() {
        #expect(ClusterPKI.readers(ofAll: ["admin", "kube-scheduler", "etcd-peer", "front-proxy-client", "etcd-server"])
                == ["etcd.service", "kube-apiserver.service", "kube-scheduler.service", "kubeseed-csr-approver.service"])
        #expect(ClusterPKI.readers(ofAll: ["kube-proxy"]).isEmpty)
    }

    @Test func theListShowsKubeconfigCertificatesAndTheWindow() throws {
        let (host, store) = try made(.ecdsaP256)
        let admin = try #require(try host.root.readText("/etc/kubernetes/cert/admin.pem"))
        let kubeconfig = """
            apiVersion: v1
            kind: Config
            users:
            - name: admin
              user:
                client-certificate-data: \(Data(admin.utf8).base64EncodedString())
            - name: by-file
              user:
                client-certificate: /somewhere.pem
            """
        try host.root.writeAtomically("/etc/kubernetes/admin.kubeconfig", Data(kubeconfig.utf8), mode: 0o600)
        try host.root.writeAtomically("/etc/kubernetes/kube-scheduler.kubeconfig", Data("- not: [a kubeconfig".utf8), mode: 0o600)
        // The kubelet keeps its certificate and key in one file.
        let adminKey = try #require(try host.root.readText("/etc/kubernetes/cert/admin-key.pem"))
        try host.root.writeAtomically("/etc/kubernetes/cert/kubelet-client-current.pem", Data((admin + adminKey).utf8), mode: 0o600)
        // One it rotated away from stays on disk and expires there: not listed.
        try host.root.writeAtomically("/etc/kubernetes/cert/kubelet-client-2025-01-01-00-00-00.pem", Data((admin + adminKey).utf8), mode: 0o600)
        let listed = store.list(kubeconfigs: KubeconfigCredential.paths)
        #expect(listed.count == 15, "\(listed.map(\.source))")
        #expect(listed.first { $0.source == "kubelet-client-current.pem" }?.problem == nil)
        let embedded = try #require(listed.first { $0.source == "/etc/kubernetes/admin.kubeconfig (user admin)" })
        #expect(embedded.subject.contains("CN=admin") && embedded.problem == nil)
        #expect(listed.first { $0.source == "/etc/kubernetes/kube-scheduler.kubeconfig" }?.problem == "not a PEM certificate")
        // Five-year leaves inside a six-year window; the ten-year CAs not.
        let window = store.list(window: 6 * 366 * 86400)
        // The kubelet rotates its own at 70 to 90 % of its life: within the window is no problem, expired is.
        #expect(window.filter { $0.problem != nil }.map(\.source).sorted() == ClusterPKI.leafNames.map { "\($0).pem" }.sorted())
        // The admin pair stands in for the kubelet's (issued for 5 years): past 95 % of that, it should have rotated.
        let late = store.list(now: Date().addingTimeInterval(0.96 * 5 * 365 * 86400))
        #expect(late.first { $0.source == "kubelet-client-current.pem" }?.problem?.hasPrefix("past 95 % of its life") == true)
        #expect(store.list(now: Date().addingTimeInterval(0.9 * 5 * 365 * 86400)).first { $0.source == "kubelet-client-current.pem" }?.problem == nil)
        let later = store.list(now: Date().addingTimeInterval(20 * 366 * 86400))
        #expect(later.first { $0.source == "kubelet-client-current.pem" }?.problem?.hasPrefix("EXPIRED: the kubelet did not rotate it") == true)
        #expect(later.first { $0.source == "admin.pem" }?.problem == "EXPIRED")
    }
}
