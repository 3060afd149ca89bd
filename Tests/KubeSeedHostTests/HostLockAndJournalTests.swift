import Foundation
import Glibc
import KubeSeedCore
import KubeSeedPKI
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The host lock, the journal shared by a whole run, directory flushes and the PKI's re-use, against a
/// temporary root.
@Suite struct HostLockAndJournalTests {
    @Test func reRunWithAnIPv6MasterReusesItsOwnCertificates() throws {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/etc/kubernetes/cert"), withIntermediateDirectories: true)
        let journal = try ChangeJournal(root: host.root)
        let written = PKIParameters(masterIPs: ["2001:db8::a"], etcdIPs: ["2001:db8::a"], serviceCIDR: "fd00:10::/108", clusterDomain: "cluster.local")
        #expect(try PKIStore(root: host.root).ensure(written, algorithm: .ecdsaP256, journal: journal).allSatisfy { $0.outcome == .created })
        // The same addresses spelled another way are the same addresses.
        let respelled = PKIParameters(masterIPs: ["2001:DB8:0:0::A"], etcdIPs: ["2001:db8:0::a"], serviceCIDR: "fd00:10::/108", clusterDomain: "cluster.local")
        for parameters in [written, respelled] {
            #expect(try PKIStore(root: host.root).ensure(parameters, algorithm: .ecdsaP256, journal: journal).allSatisfy { $0.outcome == .reused })
        }
        let other = PKIParameters(masterIPs: ["2001:db8::b"], etcdIPs: ["2001:db8::b"], serviceCIDR: "fd00:10::/108", clusterDomain: "cluster.local")
        #expect(throws: HostError.self) { try PKIStore(root: host.root).ensure(other, algorithm: .ecdsaP256, journal: journal) }
    }

    @Test func aBusyLockIsReportedAsBusyAndAnythingElseAsItself() throws {
        let host = try TemporaryHost()
        let lock = try HostLock.acquire(host.root, path: "/run/kubeseed/agent.lock")
        defer { lock.release() }
        // flock locks belong to the open file description: a second open in this process conflicts too.
        #expect { _ = try HostLock.acquire(host.root, path: "/run/kubeseed/agent.lock") } throws: { error in
            (error as? HostError)?.code == .busy && "\(error)".contains("another KubeSeed command")
        }
        try TemporaryHost.write(host.root, "/run/not-a-directory", "x")
        #expect { _ = try HostLock.acquire(host.root, path: "/run/not-a-directory/agent.lock") } throws: { error in
            (error as? HostError)?.code == .file && !"\(error)".contains("another")
        }
    }

    @Test func aCommandThatWaitsGetsTheLockOnceTheHolderReleasesItAndOnlyThen() throws {
        let host = try TemporaryHost()
        let path = "/run/kubeseed/agent.lock"
        let held = try HostLock.acquire(host.root, path: path)
        // Waiting less than the holder keeps it: still busy.
        #expect { _ = try HostLock.acquire(host.root, path: path, waiting: .milliseconds(300)) } throws: { ($0 as? HostError)?.code == .busy }
        // The waiter blocks as a command does: on a thread of its own, not one of the test pool's.
        final class Outcome: @unchecked Sendable { var value: Result<(HostLock, ContinuousClock.Instant), any Error>? }
        let outcome = Outcome(), done = DispatchSemaphore(value: 0), root = host.root
        Thread {
            outcome.value = Result { (try HostLock.acquire(root, path: path, waiting: .seconds(10)), ContinuousClock.now) }
            done.signal()
        }.start()
        usleep(300_000)
        let released = ContinuousClock.now
        held.release()
        done.wait()
        let (taken, takenAt) = try #require(outcome.value).get()
        #expect(takenAt >= released, "the waiter had the lock before the holder let it go")
        // The waiter holds it now: another taker is refused.
        #expect { _ = try HostLock.acquire(host.root, path: path) } throws: { ($0 as? HostError)?.code == .busy }
        taken.release()
    }

    @Test func aDirectoryFlushThatFailsIsReported() throws {
        let host = try TemporaryHost()
        #expect { try host.root.syncDirectory(host.root.resolve("/no/such/directory")) } throws: { error in
            (error as? HostError)?.errnoValue == ENOENT
        }
    }

    @Test func oneJournalServesAWholeInit() throws {
        let host = try TemporaryHost()
        let journal = try ChangeJournal(root: host.root)
        let runner = StepRunner(root: host.root, effects: host.effects, journal: journal)
        try runner.apply([.writeFile(path: "/etc/kubernetes-a.yaml", content: "a\n", mode: 0o600)], observed: NodeObservation())
        try TokenStore(root: host.root).save([], journal: journal)
        #expect(journal.records.map(\.key).filter { $0.hasPrefix("file:") } == ["file:/etc/kubernetes-a.yaml", "file:\(TokenRecord.path)"])
        #expect(try ChangeJournal(root: host.root).records == journal.records)
    }

    /// `record` reads the file again only when it changed: another journal's save in this process is kept,
    /// even one written in place with its modification time put back, and a file nobody else touched is
    /// not read and decoded again.
    @Test func aJournalReadsItsFileAgainOnlyWhenItChanged() throws {
        let host = try TemporaryHost()
        let first = try ChangeJournal(root: host.root)
        let second = try ChangeJournal(root: host.root)
        try first.record([.moduleLoaded("a")])
        try first.record([.moduleLoaded("b")])
        #expect(first.reads == 1)
        try second.record([.moduleLoaded("c")])
        try first.record([.moduleLoaded("d")])
        #expect(first.reads == 2)
        #expect(try ChangeJournal(root: host.root).records == ["a", "b", "c", "d"].map { .moduleLoaded($0) })

        let path = host.root.resolve(first.path)
        let identity = try #require(host.root.identity(first.path))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Journal(records: [.moduleLoaded("z")]).encoded())
        try handle.close()
        var times = [timespec(tv_sec: Int(identity.modified), tv_nsec: Int(identity.modifiedNanoseconds)),
                     timespec(tv_sec: Int(identity.modified), tv_nsec: Int(identity.modifiedNanoseconds))]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        try first.record([.moduleLoaded("e")])
        #expect(try ChangeJournal(root: host.root).records == [.moduleLoaded("z"), .moduleLoaded("e")])
    }
}
