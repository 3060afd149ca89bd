import Foundation
import KubeSeedCore
import KubeSeedPKI
import Testing
@testable import KubeSeedHost

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
        #expect(first.count == 12)
        #expect(first.allSatisfy { $0.outcome == .created })
        for name in ["ca", "kube-apiserver", "admin", "etcd-server"] {
            #expect(host.root.mode("/etc/kubernetes/cert/\(name)-key.pem") == 0o600)
            #expect(host.root.mode("/etc/kubernetes/cert/\(name).pem") == 0o644)
        }
        #expect(host.root.mode("/etc/kubernetes/cert/sa.key") == 0o600)
        let before = try host.snapshot(withTimes: true)
        let second = try store.ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: host.root))
        #expect(second.allSatisfy { $0.outcome == .reused })
        #expect(try host.snapshot(withTimes: true) == before)
        #expect(store.list().count == 11)
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
}
