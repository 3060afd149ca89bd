import Foundation
import Glibc
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// `seed etcd leave` and `seed etcd rejoin` on two masters made by `seed init` and `seed join` against
/// `FakeCluster` (a fake etcd and API server) with the recording systemd fake. The VM's HA scenario runs
/// them with real etcd on three masters around a real restore.
@Suite struct EtcdLeaveRejoinTests {
    let paths = MasterSuccessPathTests()

    func dataDirectories(_ master: MasterOperations) throws -> (data: String, wal: String) {
        let settings = try #require(try master.recordedConfig()).host
        return (settings.etcdDataDir, settings.etcdWALDir)
    }

    /// Two masters; master-2 holds data, has left etcd, and the restore on master-1 made a cluster with a new ID.
    func leftAndRestored() async throws -> (FakeCluster, MasterSuccessPathTests.TwoMasters, data: String) {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let masters = try await paths.twoMasters(cluster)
        let (data, _) = try dataDirectories(masters.master2)
        try TemporaryHost.write(masters.second.root, "\(data)/member/snap/db", "the data before")
        #expect(await masters.master2.leaveEtcdCluster() == 0, "\(masters.output2.text)")
        cluster.state.withLock { $0.clusterID = 0xc2 }
        return (cluster, masters, data)
    }

    @Test func aMasterLeavesTheRestoreMasterIsRefusedAndTheLeaverComesBackAsANewMember() async throws {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let masters = try await paths.twoMasters(cluster)
        let (second, master2, output) = (masters.second, masters.master2, masters.output2)
        let (data, wal) = try dataDirectories(master2)
        try TemporaryHost.write(second.root, "\(data)/member/snap/db", "the data before")
        try TemporaryHost.write(second.root, "\(wal)/0000000000000000-0000000000000000.wal", "the log before")
        chmod(second.root.resolve(data), 0o750)
        #expect(second.services.units[ControlPlane.unitNames[0]]?.isActive == true)

        output.text = ""
        #expect(await master2.leaveEtcdCluster() == 0, "\(output.text)")
        #expect(output.text.contains("removed   etcd member master-2") && output.text.contains("'seed etcd rejoin'"), "\(output.text)")
        #expect(cluster.members.map(\.name) == [MasterSuccessPathTests.master1.name])
        for unit in MasterOperations.restoreStopOrder where second.services.units[unit] != nil {
            #expect(second.services.units[unit]?.isActive == false, "\(unit)")
        }
        #expect(try second.root.readText("\(data)/member/snap/db") == "the data before", "leave keeps the data in place")
        #expect(try second.root.readText(MasterOperations.leftClusterPath) == "c1\n", "the cluster left is noted")

        output.text = ""
        #expect(await master2.leaveEtcdCluster() == 0, "\(output.text)")
        #expect(output.text.contains("nothing changed"), "\(output.text)")

        // master-1 now holds etcd's only member: there is no cluster for it to leave.
        let before = try masters.first.snapshot(withTimes: true)
        masters.first.services.calls = []
        masters.output1.text = ""
        #expect(await masters.master1.leaveEtcdCluster() == 2, "\(masters.output1.text)")
        #expect(masters.output1.text.contains("nothing changed") && masters.output1.text.contains("only member"), "\(masters.output1.text)")
        #expect(masters.first.services.calls.isEmpty, "\(masters.first.services.calls)")
        #expect(try masters.first.snapshot(withTimes: true) == before)
        #expect(cluster.members.count == 1)

        // Before the restore the others answer for the cluster master-2 left: refused, nothing changed.
        let beforeRestore = try second.snapshot(withTimes: true)
        second.services.calls = []
        output.text = ""
        #expect(await master2.rejoinEtcdCluster() == 2, "\(output.text)")
        #expect(output.text.contains("the restore has not run") && output.text.contains("--same-cluster"), "\(output.text)")
        #expect(second.services.calls.isEmpty && cluster.members.count == 1)
        #expect(try second.snapshot(withTimes: true) == beforeRestore)
        // The restore on master-1 makes a cluster with a new ID.
        cluster.state.withLock { $0.clusterID = 0xc2 }

        // A unit whose binary is gone cannot run: it is not started (each run would report it started again).
        try second.root.remove("\(NodePaths.binDir)/kube-scheduler")
        output.text = ""
        #expect(await master2.rejoinEtcdCluster() == 0, "\(output.text)")
        #expect(output.text.contains("added as learner") && output.text.contains("promoted to voting member") && output.text.contains("is back in etcd"), "\(output.text)")
        #expect(second.services.units["kube-scheduler.service"]?.isActive == false && !output.text.contains("kube-scheduler"), "\(output.text)")
        #expect(cluster.members.map(\.name).sorted() == [MasterSuccessPathTests.master1.name, MasterSuccessPathTests.master2.name])
        #expect(cluster.members.allSatisfy { !$0.isLearner })
        #expect(!second.root.exists("\(data)/member") && second.root.list(wal).isEmpty, "the new member starts on empty directories")
        #expect(second.root.mode(data) == 0o750, "the new directory keeps the old one's mode")
        #expect(!second.root.exists(MasterOperations.leftClusterPath), "the note of the cluster left is gone with the rejoin")
        let parent = (data as NSString).deletingLastPathComponent
        let aside = second.root.list(parent).filter { $0.hasPrefix("data.before-rejoin-") }
        #expect(aside.count == 1 && output.text.contains(aside.first ?? "?"), "\(second.root.list(parent)) \(output.text)")
        #expect(try second.root.readText("\(parent)/\(aside.first ?? "-")/member/snap/db") == "the data before")
        #expect(second.root.list(parent).contains { $0.hasPrefix("wal.before-rejoin-") })
        #expect(second.services.units["etcd.service"]?.isActive == true)
        #expect(second.services.units[ControlPlane.unitNames[0]]?.isActive == true, "the API server the leave stopped starts again")

        output.text = ""
        #expect(await master2.rejoinEtcdCluster() == 0, "\(output.text)")
        #expect(output.text.contains("nothing changed") && output.text.contains("a voting member of 2"), "\(output.text)")
    }

    @Test func aRejoinOnAMasterThatNeverLeftChangesNothingNotEvenTheFoundersUnit() async throws {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let masters = try await paths.twoMasters(cluster)
        let (first, master1, output) = (masters.first, masters.master1, masters.output1)
        // Its own etcd alone, no other master known yet: nothing to do either.
        #expect(await master1.rejoinEtcdCluster() == 0, "\(output.text)")
        #expect(output.text.contains("nothing changed: master-1 is a voting member of its own etcd"), "\(output.text)")
        // seed init again: its join file now names master-2's API server, whose etcd answers.
        #expect(await master1.initialize(paths.config(), source: ClusterConfig.defaultPath) == 0, "\(output.text)")
        let unit = try #require(try first.root.readText(EtcdUnit.path))
        #expect(unit.contains("--initial-cluster-state=new"), "master-1 founded the cluster")
        let before = try first.snapshot(withTimes: true)
        first.services.calls = []
        output.text = ""
        #expect(await master1.rejoinEtcdCluster() == 0, "\(output.text)")
        #expect(output.text.contains("nothing changed") && output.text.contains("a voting member of 2"), "\(output.text)")
        #expect(first.services.calls.isEmpty, "\(first.services.calls)")
        #expect(try first.snapshot(withTimes: true) == before)
    }

    @Test func aRejoinBeforeTheRestoreJoinsTheClusterLeftOnlyWhenAskedTo() async throws {
        let cluster = FakeCluster(firstMember: MasterSuccessPathTests.master1.name, ip: MasterSuccessPathTests.master1.ip)
        let masters = try await paths.twoMasters(cluster)
        let (master2, output) = (masters.master2, masters.output2)
        #expect(await master2.leaveEtcdCluster() == 0, "\(output.text)")
        output.text = ""
        #expect(await master2.rejoinEtcdCluster() == 2, "\(output.text)")
        output.text = ""
        #expect(await master2.rejoinEtcdCluster(sameCluster: true) == 0, "\(output.text)")
        #expect(cluster.members.count == 2 && cluster.members.allSatisfy { !$0.isLearner })
    }

    @Test func aRejoinIsRefusedWhileThisMastersEtcdRunsOutsideTheCluster() async throws {
        let (cluster, masters, data) = try await leftAndRestored()
        let (second, master2, output) = (masters.second, masters.master2, masters.output2)
        // Started again by hand (or by a reboot): it runs, and the cluster does not list it.
        try second.services.start("etcd.service")
        let before = try second.snapshot(withTimes: true)
        second.services.calls = []
        output.text = ""
        #expect(await master2.rejoinEtcdCluster() == 2, "\(output.text)")
        #expect(output.text.contains("nothing changed") && output.text.contains("does not list master-2") && output.text.contains("'seed etcd leave' here first"), "\(output.text)")
        #expect(second.services.calls.isEmpty, "\(second.services.calls)")
        #expect(try second.snapshot(withTimes: true) == before)
        #expect(cluster.members.count == 1)
    }

    @Test func aRejoinCutShortIsFinishedByTheNext() async throws {
        let (cluster, masters, data) = try await leftAndRestored()
        let (second, master2, output) = (masters.second, masters.master2, masters.output2)
        second.services.failNext["start"] = 1
        output.text = ""
        #expect(await master2.rejoinEtcdCluster() == 1, "\(output.text)")
        #expect(output.text.contains("is a learner") && output.text.contains("run 'seed etcd rejoin' again") && output.text.contains("before-rejoin-"), "\(output.text)")
        #expect(cluster.members.contains { $0.hasPeer(ip: MasterSuccessPathTests.master2.ip) && $0.isLearner })

        output.text = ""
        #expect(await master2.rejoinEtcdCluster() == 0, "\(output.text)")
        #expect(output.text.contains("promoted to voting member") && !output.text.contains("added as learner"), "\(output.text)")
        #expect(cluster.members.count == 2 && cluster.members.allSatisfy { !$0.isLearner })
        let parent = (data as NSString).deletingLastPathComponent
        #expect(second.root.list(parent).filter { $0.hasPrefix("data.before-rejoin-") }.count == 1, "the second run moves nothing more aside")
    }
}
