import Crypto
import Foundation
import Testing
import KubeSeedAPI
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// What `seed etcd restore` refuses before it stops anything, after `seed init` on a temporary root with
/// `FakeCluster` (a fake etcd and API server) and the recording systemd fake. The restore itself runs in
/// the VM's real scenario (real etcd, etcdctl and kube-apiserver).
@Suite struct EtcdRestoreRefusalTests {
    let paths = MasterSuccessPathTests()

    func snapshotBytes() -> Data {
        let database = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0) })
        return database + Data(SHA256.hash(data: database))
    }

    func initialized(_ cluster: FakeCluster) async throws -> (TemporaryHost, MasterOperations, MasterSuccessPathTests.Output) {
        let (host, master, output) = try await paths.initializedMaster(cluster)
        try host.root.writeAtomically("/snap.db", snapshotBytes(), mode: 0o600)
        var damaged = snapshotBytes()
        damaged[10] ^= 1
        try host.root.writeAtomically("/damaged.db", damaged, mode: 0o600)
        try host.root.writeAtomically("/plain.db", Data(count: 8192), mode: 0o600)
        try host.root.makeSymlink("/link.db", target: "/snap.db")
        return (host, master, output)
    }

    @Test(arguments: [
        ("snap.db", "must be an absolute path"), ("/damaged.db", "it is damaged"), ("/plain.db", "carries no SHA-256"),
        ("/link.db", "is not a regular file"), ("/etc", "is not a regular file"), ("/missing.db", "is not a regular file"),
    ])
    func aFileThatIsNotAWholeSnapshotIsRefusedBeforeAnythingStops(_ file: String, _ message: String) async throws {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let (host, master, output) = try await initialized(cluster)
        let before = try host.snapshot(withTimes: true)
        #expect(await master.restoreSnapshot(file, etcdctl: "/bin/true") == 2)
        #expect(output.text.contains("nothing changed") && output.text.contains(message), "\(output.text)")
        #expect(host.services.calls.isEmpty, "\(host.services.calls)")
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test func anEtcdOfTwoMembersOrOneThatCannotBeCountedIsRefused() async throws {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let (host, master, output) = try await initialized(cluster)
        let before = try host.snapshot(withTimes: true)
        _ = try await EtcdClusterClient.addLearner(peerURL: "https://192.0.2.11:2380", via: cluster.connect("https://192.0.2.10:2379", TLSIdentity(caPEM: "", certificatePEM: "", keyPEM: ""), APITimeouts()))
        #expect(await master.restoreSnapshot("/snap.db", etcdctl: "/bin/true") == 2)
        #expect(output.text.contains("etcd has 2 members") && output.text.contains("seed etcd leave") && output.text.contains("--only-member"), "\(output.text)")
        // --only-member while the other member answers (the fake's etcd answers at every address): refused.
        output.text = ""
        #expect(await master.restoreSnapshot("/snap.db", onlyMember: true, etcdctl: "/bin/true") == 2)
        #expect(output.text.contains("--only-member, but etcd still runs on"), "\(output.text)")

        output.text = ""
        var unanswered = master
        unanswered.connect = { url, _, _ in throw APIError(.unreachable, "\(url): connection refused") }
        #expect(await unanswered.restoreSnapshot("/snap.db", etcdctl: "/bin/true") == 2)
        #expect(output.text.contains("cannot be counted") && output.text.contains("--only-member"), "\(output.text)")
        #expect(host.services.calls.isEmpty, "\(host.services.calls)")
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test func onlyMemberGoesPastOtherMembersThatDoNotAnswerAtAll() async throws {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let (host, initializedMaster, output) = try await initialized(cluster)
        var master = initializedMaster
        _ = try await EtcdClusterClient.addLearner(peerURL: "https://192.0.2.11:2380", via: cluster.connect("https://192.0.2.10:2379", TLSIdentity(caPEM: "", certificatePEM: "", keyPEM: ""), APITimeouts()))
        let connect = cluster.connect
        master.connect = { url, identity, timeouts in
            guard !url.contains("192.0.2.11") else { throw APIError(.unreachable, "\(url): connection refused") }
            return try connect(url, identity, timeouts)
        }
        // Past the refusal, the restore runs; its etcdctl stand-in fails, so everything goes back.
        #expect(await master.restoreSnapshot("/snap.db", onlyMember: true, etcdctl: "/bin/false") == 1)
        #expect(!output.text.contains("nothing changed") && output.text.contains("failed; etcd's data is as it was"), "\(output.text)")
        #expect(host.services.calls.contains("stop etcd.service"), "\(host.services.calls)")
    }

    @Test func aFailedRestorePutsTheDataBackAndStartsWhatRan() async throws {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let (host, master, output) = try await initialized(cluster)
        let settings = try #require(try master.recordedConfig()).host
        try TemporaryHost.write(host.root, "\(settings.etcdDataDir)/member/snap/db", "the data before")
        let before = try host.snapshot()
        // etcdctl stand-in that fails.
        #expect(await master.restoreSnapshot("/snap.db", etcdctl: "/bin/false") == 1)
        #expect(output.text.contains("failed; etcd's data is as it was"), "\(output.text)")
        #expect(try host.snapshot() == before)
        for unit in MasterOperations.restoreStopOrder {
            #expect(host.services.units[unit]?.activeState == "active", "\(unit) \(host.services.calls)")
        }
        let stops = host.services.calls.filter { $0.hasPrefix("stop ") }
        #expect(stops == MasterOperations.restoreStopOrder.map { "stop \($0)" }, "\(host.services.calls)")
    }

    @Test func aStopThatFailsStartsAgainWhatWasStoppedAndTouchesNoData() async throws {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let (host, master, output) = try await initialized(cluster)
        let before = try host.snapshot()
        host.services.failNext["stop"] = 1
        #expect(await master.restoreSnapshot("/snap.db", etcdctl: "/bin/true") == 1)
        #expect(output.text.contains("failed; etcd's data is as it was"), "\(output.text)")
        #expect(try host.snapshot() == before)
        for unit in MasterOperations.restoreStopOrder {
            #expect(host.services.units[unit]?.activeState == "active", "\(unit) \(host.services.calls)")
        }
    }
}
