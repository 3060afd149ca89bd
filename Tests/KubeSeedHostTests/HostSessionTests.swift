import Foundation
import Testing
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// `HostSession` and the journal's write records against a temporary root (real files and locks;
/// systemd the recording fake).
@Suite struct HostSessionTests {
    struct Stop: Error {}

    /// Whether another command could take the lock now.
    func lockIsFree(_ host: TemporaryHost) -> Bool {
        guard let lock = try? HostLock.acquire(host.root) else { return false }
        lock.release()
        return true
    }

    @Test func theLockIsHeldForTheBodyAndLetGoOnEveryPath() async throws {
        let host = try TemporaryHost()
        try HostSession.with(host.root, effects: host.effects) { _ in #expect(!lockIsFree(host)) }
        #expect(lockIsFree(host))
        #expect(throws: Stop.self) { try HostSession.with(host.root, effects: host.effects) { _ in throw Stop() } }
        #expect(lockIsFree(host))
        await #expect(throws: Stop.self) {
            try await HostSession.with(host.root, effects: host.effects) { _ in
                try await Task.sleep(for: .milliseconds(10))
                #expect(!lockIsFree(host))
                throw Stop()
            }
        }
        #expect(lockIsFree(host))
    }

    @Test func aSecondSessionWhileOneIsOpenIsRefusedAsBusy() throws {
        let host = try TemporaryHost()
        try HostSession.with(host.root, effects: host.effects) { _ in
            #expect { try HostSession.with(host.root, effects: host.effects) { _ in } } throws: { error in
                (error as? HostSession.OpenError)?.part == .lock && (error as? HostSession.OpenError)?.isRetryable == true
                    && "\(error)".contains("another KubeSeed command")
            }
        }
    }

    @Test func aJournalThatDoesNotReadFailsTheOpenChangesNothingAndLetsTheLockGo() throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, Journal.defaultPath, "not a journal")
        let before = try host.snapshot()
        var ran = false
        #expect { try HostSession.with(host.root, effects: host.effects) { _ in ran = true } } throws: { error in
            (error as? HostSession.OpenError)?.part == .journal
        }
        #expect(!ran)
        #expect(lockIsFree(host))
        #expect(try host.snapshot() == before)
    }

    @Test func stepsAppliedInASessionAreJournaledAndKnownAsKubeSeedsWrite() throws {
        let host = try TemporaryHost()
        let path = "/etc/kubeseed/session-test.conf"
        try HostSession.with(host.root, effects: host.effects) { session in
            let performed = try session.apply([.writeFile(path: path, content: "one\n", mode: 0o644)])
            #expect(performed.count == 1)
            #expect(session.journal.recordsWrite(of: Data("one\n".utf8), at: path))
            #expect(!session.journal.recordsWrite(of: Data("one, edited\n".utf8), at: path))
        }
        let journal = try ChangeJournal(root: host.root)
        #expect(journal.records.contains(.file(path: path, previous: nil, previousMode: nil)))
        #expect(journal.recordsAnyWrite(at: path) && !journal.recordsAnyWrite(at: "/etc/kubeseed/other"))
    }

    @Test func aSecretsFileKeepsOnlyWhetherItWasThereNeverItsBytes() throws {
        let host = try TemporaryHost()
        let journal = try ChangeJournal(root: host.root)
        let path = "/var/lib/kubeseed/secrets-test"
        // Created by KubeSeed: reset removes it.
        #expect(try journal.writeRecords(path, sha256: "aa", previous: .existence)
                == [.file(path: path, previous: nil, previousMode: nil), .fileWritten(path: path, sha256: "aa")])
        // Already there: only the new version's hash, never a copy of the old secret.
        try TemporaryHost.write(host.root, path, "old-secret\n")
        #expect(try journal.writeRecords(path, sha256: "bb", previous: .existence) == [.fileWritten(path: path, sha256: "bb")])
        // Anything else keeps its bytes and mode for reset.
        #expect(try journal.writeRecords(path, sha256: "cc")
                == [.file(path: path, previous: Data("old-secret\n".utf8), previousMode: host.root.mode(path)), .fileWritten(path: path, sha256: "cc")])
    }
}
