import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): the snapshot stream's lines, snapshot names, and retention.
@Suite struct EtcdSnapshotTests {
    @Test func aResultLineCarriesItsBytesAndAnErrorLineThrows() throws {
        let bytes = Data((0..<200).map { UInt8($0) })
        let line = Data("{\"result\":{\"header\":{\"cluster_id\":\"1\"},\"remaining_bytes\":\"4096\",\"blob\":\"\(bytes.base64EncodedString())\"}}".utf8)
        #expect(try EtcdSnapshot.blob(in: line) == bytes)
        #expect(try EtcdSnapshot.blob(in: Data("{\"result\":{\"remaining_bytes\":\"0\"}}".utf8)).isEmpty)
        let error = #expect(throws: EtcdSnapshot.StreamError.self) {
            try EtcdSnapshot.blob(in: Data("{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: leader changed\"}}".utf8))
        }
        #expect(error?.description.contains("leader changed") == true)
        for bad in ["not json", "[1,2]", "{\"other\":1}", "{\"result\":{\"blob\":\"%%%\"}}"] {
            #expect(throws: EtcdSnapshot.StreamError.self, "\(bad)") { try EtcdSnapshot.blob(in: Data(bad.utf8)) }
        }
    }

    @Test func namesRoundTripAndOnlyOurNamesHaveATime() throws {
        let date = Date(timeIntervalSince1970: 1_796_000_123)
        let name = EtcdSnapshot.fileName(node: "master-1", at: date)
        #expect(name == "etcd-snapshot-master-1-20261130T005523Z.db")
        #expect(EtcdSnapshot.takenAt(name) == date)
        for other in ["etcd-snapshot-master-1-20261323T003523Z.db", "etcd-snapshot-master-1-2026112T003523Z.db", "etcd-snapshot-m-20261123T003523Z.db.bak",
                      "backup.db", "etcd-snapshot-m-20261123T0035２3Z.db", ".partial-etcd-snapshot-m-20261123T003523Z.db", "etcd-snapshot-m-20260230T000000Z.db"] {
            #expect(EtcdSnapshot.takenAt(other) == nil, "\(other)")
        }
    }

    @Test func pruningKeepsTheNewestOfOurNamesAndNeverNamesAnotherFile() {
        let names = (1...7).map { EtcdSnapshot.fileName(node: "master-1", at: Date(timeIntervalSince1970: 1_796_000_000 + Double($0) * 43_200)) }
        let others = ["keep-me.db", "etcd-snapshot-by-hand.db", ".last-result"]
        let pruned = EtcdSnapshot.pruned((others + names).shuffled(), keep: 5)
        #expect(pruned == Array(names.prefix(2)).sorted())
        #expect(EtcdSnapshot.pruned(names, keep: 7).isEmpty)
        #expect(EtcdSnapshot.pruned(names, keep: 0) == names.sorted())
        // A save by hand is never pruned; its name reads back; a node named like the prefix stays scheduled.
        let byHand = EtcdSnapshot.fileName(node: "master-1", at: Date(timeIntervalSince1970: 1_796_000_000), onDemand: true)
        #expect(byHand == "on-demand-etcd-snapshot-master-1-20261130T005320Z.db" && EtcdSnapshot.isOnDemand(byHand))
        #expect(EtcdSnapshot.takenAt(byHand) == Date(timeIntervalSince1970: 1_796_000_000))
        #expect(EtcdSnapshot.pruned(names + [byHand], keep: 0) == names.sorted())
        let namesake = EtcdSnapshot.fileName(node: "on-demand-x", at: Date(timeIntervalSince1970: 1_796_000_000))
        #expect(!EtcdSnapshot.isOnDemand(namesake) && EtcdSnapshot.pruned([namesake], keep: 0) == [namesake])
    }

    /// A save killed on the way leaves `.partial-NAME`; prune takes it once it is an hour old, and nothing
    /// that is not the partial of one of KubeSeed's names.
    @Test func pruningTakesOnlyOurOwnPartialFilesOnceAnHourOld() {
        let now = Date(timeIntervalSince1970: 1_796_100_000)
        let ours = ".partial-" + EtcdSnapshot.fileName(node: "master-1", at: now.addingTimeInterval(-7200))
        let files: [(name: String, modified: Date)] = [
            (ours, now.addingTimeInterval(-3601)),
            (".partial-" + EtcdSnapshot.fileName(node: "master-1", at: now), now.addingTimeInterval(-5)),
            (".partial-backup.db", now.addingTimeInterval(-86400)),
            (".partial-", now.addingTimeInterval(-86400)),
            (EtcdSnapshot.fileName(node: "master-1", at: now.addingTimeInterval(-86400)), now.addingTimeInterval(-86400)),
        ]
        #expect(EtcdSnapshot.stalePartials(files, now: now) == [ours])
        #expect(EtcdSnapshot.stalePartials(files, now: now.addingTimeInterval(-2)).isEmpty)
    }
}
