import Foundation
import KubeSeedCore
import KubeSeedPKI
import X509
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The PKI written for real into a temporary root (ECDSA keys, to keep the suite fast).
@Suite struct PKIStoreTests {
    let parameters = PKIParameters(masterIPs: ["192.0.2.10"], etcdIPs: ["192.0.2.10"], serviceCIDR: "10.254.0.0/16", clusterDomain: "cluster.local")

    func setUp() throws -> (TemporaryHost, ChangeJournal, PKIStore) {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/etc/kubernetes/cert"), withIntermediateDirectories: true)
        return (host, try ChangeJournal(root: host.root), PKIStore(root: host.root))
    }

    @Test func createsTheSetWithSafeModesThenReusesIt() throws {
        let (host, journal, store) = try setUp()
        let first = try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal)
        #expect(first.count == 13)
        #expect(first.allSatisfy { $0.outcome == .created })
        for name in ["ca", "etcd-ca", "kube-apiserver", "admin", "etcd-server"] {
            #expect(host.root.mode("/etc/kubernetes/cert/\(name)-key.pem") == 0o600)
            #expect(host.root.mode("/etc/kubernetes/cert/\(name).pem") == 0o644)
        }
        #expect(host.root.mode("/etc/kubernetes/cert/sa.key") == 0o600)
        let before = try host.snapshot(withTimes: true)
        let second = try store.ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: host.root))
        #expect(second.allSatisfy { $0.outcome == .reused })
        #expect(try host.snapshot(withTimes: true) == before)
        #expect(store.list().count == 12)
        #expect(store.list().allSatisfy { $0.problem == nil })
    }

    @Test func aCertificateThatNoLongerFitsIsRefusedNotRegenerated() throws {
        let (host, journal, store) = try setUp()
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal)
        let before = try host.snapshot(withTimes: true)
        var moved = parameters
        moved.masterIPs = ["192.0.2.99"]
        let error = #expect(throws: HostError.self) { try store.ensure(moved, algorithm: .ecdsaP256, journal: journal) }
        #expect(error?.description.contains("kube-apiserver.pem cannot be reused: it lacks the names 192.0.2.99") == true)
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test func halfACAIsRefused() throws {
        let (host, journal, store) = try setUp()
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal)
        try host.root.remove("/etc/kubernetes/cert/ca-key.pem")
        let error = #expect(throws: HostError.self) { try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal) }
        #expect(error?.description.contains("never replaces half a CA") == true)
    }

    @Test func resetRemovesWhatWasCreated() throws {
        let (host, journal, store) = try setUp()
        let original = try host.snapshot()
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal)
        #expect(try HostReset(root: host.root, effects: host.effects, journal: ChangeJournal(root: host.root)).run().failed.isEmpty)
        #expect(try host.snapshot() == original)
    }

    func certificate(_ host: TemporaryHost, _ name: String) throws -> Certificate {
        try Certificate(pemEncoded: try #require(try host.root.readText("/etc/kubernetes/cert/\(name).pem")))
    }

    @Test func etcdsCertificatesComeFromTheEtcdCAAndNothingElseDoes() throws {
        let (host, journal, store) = try setUp()
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal)
        let ca = try certificate(host, "ca"), etcdCA = try certificate(host, "etcd-ca")
        #expect(ca.subject != etcdCA.subject && ca.publicKey != etcdCA.publicKey)
        for name in ["etcd-server", "etcd-peer", "apiserver-etcd-client"] {
            #expect(try certificate(host, name).isSigned(by: etcdCA) && !(try certificate(host, name).isSigned(by: ca)), "\(name)")
        }
        for name in ["kube-apiserver", "admin", "kube-proxy", "kube-controller-manager", "front-proxy-client"] {
            #expect(try certificate(host, name).isSigned(by: ca) && !(try certificate(host, name).isSigned(by: etcdCA)), "\(name)")
        }
        #expect(try !store.legacyEtcdLayout())
    }

    @Test func aPKIMadeBeforeTheEtcdCAIsMovedToOneAndTheClusterCAKept() throws {
        let (host, journal, store) = try setUp()
        try host.makeLegacyEtcdLayout(store, parameters)
        let ca = try certificate(host, "ca")
        #expect(try certificate(host, "etcd-server").isSigned(by: ca))
        #expect(try store.legacyEtcdLayout())
        let untouched = try ["ca", "kube-apiserver", "admin"].map { try host.root.read("/etc/kubernetes/cert/\($0).pem") }
        let entries = try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal)
        #expect(Set(entries.filter { $0.outcome == .created }.map(\.name)) == ["etcd-ca", "etcd-server", "etcd-peer", "apiserver-etcd-client"])
        let etcdCA = try certificate(host, "etcd-ca")
        for name in ["etcd-server", "etcd-peer", "apiserver-etcd-client"] {
            #expect(try certificate(host, name).isSigned(by: etcdCA), "\(name)")
        }
        #expect(try ["ca", "kube-apiserver", "admin"].map { try host.root.read("/etc/kubernetes/cert/\($0).pem") } == untouched)
        #expect(try !store.legacyEtcdLayout())
        // Moved once: a second run reuses everything.
        #expect(try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal).allSatisfy { $0.outcome == .reused })
    }

    /// A move cut short (the power gone after the etcd CA was written, before etcd's certificates were):
    /// the next run still sees the old layout and finishes the move with the etcd CA that is there.
    @Test func aMoveCutShortIsFinishedWithTheEtcdCAAlreadyWritten() throws {
        let (host, journal, store) = try setUp()
        try host.makeLegacyEtcdLayout(store, parameters)
        let written = try Issuer.makeCA(.ecdsaP256, commonName: "etcd-ca")
        try host.root.writeAtomically([("/etc/kubernetes/cert/etcd-ca.pem", Data(written.certificate.pem.utf8), 0o644),
                                       ("/etc/kubernetes/cert/etcd-ca-key.pem", Data(written.key.pem.utf8), 0o600)])
        #expect(try store.legacyEtcdLayout())
        let entries = try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal)
        #expect(Set(entries.filter { $0.outcome == .created }.map(\.name)) == ["etcd-server", "etcd-peer", "apiserver-etcd-client"])
        #expect(try certificate(host, "etcd-server").isSigned(by: written.certificate))
        #expect(try !store.legacyEtcdLayout())
    }

    /// A certificate of etcd's signed by neither CA (restored from another cluster) is refused, not replaced.
    @Test func anEtcdCertificateOfAnotherCAIsRefused() throws {
        let (host, journal, store) = try setUp()
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal)
        let other = try Issuer.makeCA(.ecdsaP256, commonName: "etcd-ca")
        let (leaf, key) = try other.issue(ClusterPKI.etcdSpecs(parameters)[0], .ecdsaP256)
        try host.root.writeAtomically([("/etc/kubernetes/cert/etcd-server.pem", Data(leaf.pem.utf8), 0o644),
                                       ("/etc/kubernetes/cert/etcd-server-key.pem", Data(key.pem.utf8), 0o600)])
        let error = #expect(throws: HostError.self) { try store.ensure(parameters, algorithm: .ecdsaP256, journal: journal) }
        #expect(error?.description.contains("etcd-server.pem cannot be reused: it is not signed by the etcd CA") == true, "\(String(describing: error))")
    }
}

/// Keys made ahead (`seed init` makes them while it prepares the node): the PKI uses them, each once.
@Suite struct PrefetchedKeysTests {
    let parameters = PKIParameters(masterIPs: ["192.0.2.10"], etcdIPs: ["192.0.2.10"], serviceCIDR: "10.254.0.0/16", clusterDomain: "cluster.local")

    func setUp() throws -> (TemporaryHost, PKIStore) {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/etc/kubernetes/cert"), withIntermediateDirectories: true)
        return (host, PKIStore(root: host.root))
    }

    /// Every private key the PKI wrote, as PEM.
    func writtenKeys(_ host: TemporaryHost) throws -> Set<String> {
        let directory = "/etc/kubernetes/cert"
        return Set(try host.root.list(directory).filter { $0.hasSuffix("-key.pem") || $0 == "sa.key" }
            .map { try #require(try host.root.readText("\(directory)/\($0)")) })
    }

    @Test func aMadeAheadSetIsTheOneWrittenAndServesOnce() throws {
        let (host, store) = try setUp()
        #expect(try store.missingKeyCount(parameters) == 13)
        let keys = try PrivateKey.generate(.ecdsaP256, count: 13)
        let prefetched = PrefetchedKeys(keys, algorithm: .ecdsaP256)
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: host.root), prefetched: prefetched)
        #expect(try writtenKeys(host) == Set(keys.map(\.pem)))
        #expect(try store.missingKeyCount(parameters) == 0)
        #expect(try prefetched.take().isEmpty)
    }

    @Test func tooFewAreMadeUpTooManyAreLeftAndAnotherAlgorithmIsNotUsed() throws {
        let (host, store) = try setUp()
        let few = try PrivateKey.generate(.ecdsaP256, count: 4)
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: host.root), prefetched: PrefetchedKeys(few, algorithm: .ecdsaP256))
        let written = try writtenKeys(host)
        #expect(written.count == 13)
        #expect(Set(few.map(\.pem)).isSubset(of: written))

        let (other, otherStore) = try setUp()
        let rsa = try PrivateKey.generate(.ecdsaP256, count: 13)
        _ = try otherStore.ensure(parameters, algorithm: .rsa2048, journal: try ChangeJournal(root: other.root), prefetched: PrefetchedKeys(rsa, algorithm: .ecdsaP256))
        #expect(try writtenKeys(other).isDisjoint(with: rsa.map(\.pem)))

        // Two pairs missing: two of twenty keys used, the others never written.
        for name in ["admin", "kube-scheduler"] {
            try host.root.remove("/etc/kubernetes/cert/\(name).pem")
            try host.root.remove("/etc/kubernetes/cert/\(name)-key.pem")
        }
        #expect(try store.missingKeyCount(parameters) == 2)
        let many = try PrivateKey.generate(.ecdsaP256, count: 20)
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: host.root), prefetched: PrefetchedKeys(many, algorithm: .ecdsaP256))
        #expect(try writtenKeys(host).intersection(many.map(\.pem)).count == 2)
    }

    @Test func keysMadeOnAnotherThreadAreThereWhenTaken() throws {
        let prefetched = PrefetchedKeys(.ecdsaP256, count: 3)
        let keys = try prefetched.take()
        #expect(keys.count == 3)
        #expect(Set(keys.map(\.pem)).count == 3)
        #expect(try prefetched.take().isEmpty)
    }
}
