import Crypto
import Foundation
import Testing
import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// Snapshot files written for real into a temporary root (the bytes are made up: a database is whole
/// pages, then its SHA-256). The real etcd's snapshots: RealAPIServerTests and the VM.
@Suite struct EtcdSnapshotFilesTests {
    static func database(pages: Int) -> Data { Data((0..<(pages * 4096)).map { UInt8(truncatingIfNeeded: $0 &* 31) }) }
    static func withHash(_ data: Data) -> Data { data + Data(SHA256.hash(data: data)) }

    @Test func aWholeSnapshotIsKeptPrivateAndAnAlteredOneIsNotKeptAtAll() throws {
        let host = try TemporaryHost()
        let files = EtcdSnapshotFiles(root: host.root, directory: "/data/etcd/snapshots")
        let writer = try files.begin("etcd-snapshot-m-20261123T003523Z.db")
        let stream = Self.withHash(Self.database(pages: 3))
        for start in stride(from: 0, to: stream.count, by: 5000) { try writer.append(stream[start..<min(start + 5000, stream.count)]) }
        let check = try writer.finish()
        #expect(check == EtcdSnapshotFiles.Check(size: 3 * 4096 + 32, hashMatches: true))
        #expect(host.root.mode("/data/etcd/snapshots") == 0o700)
        #expect(host.root.mode(writer.path) == 0o600)
        #expect(try host.root.read(writer.path) == stream)
        #expect(files.list().map(\.name) == ["etcd-snapshot-m-20261123T003523Z.db"])

        var altered = stream
        altered[100] ^= 1
        let bad = try files.begin("etcd-snapshot-m-20261123T003524Z.db")
        try bad.append(altered)
        let error = #expect(throws: HostError.self) { try bad.finish() }
        #expect(error?.description.contains("does not match the SHA-256") == true)
        #expect(host.root.list("/data/etcd/snapshots") == ["etcd-snapshot-m-20261123T003523Z.db"], "neither the file nor its temporary is left")

        // A save killed half-way leaves its temporary: the same name is refused, saying what to do.
        let killed = try files.begin("etcd-snapshot-m-20261123T003525Z.db")
        try killed.append(Data("partial".utf8))
        let busy = #expect(throws: HostError.self) { try files.begin("etcd-snapshot-m-20261123T003525Z.db") }
        #expect(busy?.description.contains("another save is writing etcd-snapshot-m-20261123T003525Z.db now, or one was killed") == true, "\(String(describing: busy))")
        killed.discard()

        // Never over an existing file; a file without a hash is told apart from a damaged one.
        #expect(throws: HostError.self) { try files.begin("etcd-snapshot-m-20261123T003523Z.db") }
        try host.root.writeAtomically("/plain.db", Self.database(pages: 2), mode: 0o600)
        #expect(try EtcdSnapshotFiles.check(host.root, "/plain.db").hashMatches == nil)
        #expect(throws: HostError.self) { try EtcdSnapshotFiles.check(host.root, "/missing.db") }
    }

    @Test func pruneDeletesTheOldestOfOurNamesOnly() throws {
        let host = try TemporaryHost()
        let files = EtcdSnapshotFiles(root: host.root, directory: "/s")
        try host.root.makeDirectory("/s", mode: 0o700)
        let names = (0..<4).map { EtcdSnapshot.fileName(node: "m", at: Date(timeIntervalSince1970: 1_796_000_000 + Double($0) * 60)) }
        let byHand = EtcdSnapshot.fileName(node: "m", at: Date(timeIntervalSince1970: 1_795_000_000), onDemand: true)
        for name in names + ["mine.db", byHand] { try host.root.writeAtomically("/s/\(name)", Data("x".utf8), mode: 0o600) }
        #expect(try files.prune(keep: 2) == Array(names.prefix(2)))
        #expect(Set(host.root.list("/s")) == Set(names.suffix(2) + ["mine.db", byHand]))
        #expect(files.list().map(\.name) == names.suffix(2).reversed() + [byHand])
        #expect(try files.prune(keep: 1) == [names[2]] && host.root.exists("/s/\(byHand)"))
    }
}
