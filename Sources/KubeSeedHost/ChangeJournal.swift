import Crypto
import Foundation
import KubeSeedCore

/// The write-ahead change journal on the host (`/var/lib/kubeseed/journal.json`, 0600): every change
/// KubeSeed makes is recorded here, with what was there before, before the change is made. A command's
/// `HostSession` loads it once under the host lock and hands it to everything that changes the host
/// (its step runners, the PKI store, the binary installer, the token store), so `reset` can restore exactly.
public final class ChangeJournal {
    public let root: HostRoot
    public let path: String
    public private(set) var records: [JournalRecord] {
        didSet { writtenDigests = Self.digests(records) }
    }
    /// For each path, the SHA-256 of every version KubeSeed wrote there.
    private var writtenDigests: [String: Set<String>] = [:]
    /// The file as this journal last read or saved it (`nil` inside: there was none), `nil` before the
    /// first read: `record` reads it again only when it is no longer that file. Inode numbers are reused,
    /// so the identity compares the size and the times (ns) too; a save by another journal in this process
    /// only ever adds records (a longer file), and only reset shortens it (`replace`), alone.
    private var seenFile: FileIdentity??
    /// How many times the file was read and decoded (tests).
    private(set) var reads = 0

    /// Loads the journal at `path` (none there: an empty journal; unreadable: an error, since reset needs it).
    public init(root: HostRoot = HostRoot(), path: String = Journal.defaultPath) throws {
        self.root = root
        self.path = path
        self.records = []
        try reload()
    }

    /// Adds the records whose keys are not there yet and saves (fsynced) before returning, so the caller
    /// may then make the changes. The first record for a key keeps the original value. Returns whether
    /// anything was added.
    @discardableResult
    public func record(_ new: [JournalRecord]) throws -> Bool {
        // Re-read first (when the file changed): a record written by anyone else holding the host lock in this
        // process is never dropped.
        if seenFile == nil || root.identity(path) != seenFile! { try reload() }
        var journal = Journal(records: records)
        guard journal.add(new) > 0 else { return false }
        try save(journal.records)
        return true
    }

    /// What of a file's previous content the journal keeps before KubeSeed writes it.
    public enum PreviousContent: Sendable {
        /// Its bytes and mode, so `reset` puts them back.
        case bytes
        /// Only whether it was there: a file of KubeSeed's own that holds secrets (the journal never
        /// holds a copy of them); `reset` removes it if KubeSeed created it.
        case existence
    }

    /// The records that let `reset` undo writing a version whose SHA-256 is `sha256` to `path`: what was
    /// there before (as `previous` says) and the version itself. Read before the write.
    public func writeRecords(_ path: String, sha256: String, previous: PreviousContent = .bytes) throws -> [JournalRecord] {
        var entries: [JournalRecord] = [.fileWritten(path: path, sha256: sha256)]
        switch previous {
        case .bytes:
            entries.insert(.file(path: path, previous: try root.read(path), previousMode: root.mode(path)), at: 0)
        case .existence where !root.exists(path):
            entries.insert(.file(path: path, previous: nil, previousMode: nil), at: 0)
        case .existence:
            break
        }
        return entries
    }

    /// Records that KubeSeed is about to write `data` to `path` (see `writeRecords`), saved before returning.
    public func recordWrite(_ path: String, _ data: Data, previous: PreviousContent = .bytes) throws {
        try record(try writeRecords(path, sha256: Self.sha256(data), previous: previous))
    }

    /// Whether `data` is exactly what KubeSeed wrote at `path` (a file changed since is someone else's).
    /// The one place that answers it.
    public func recordsWrite(of data: Data, at path: String) -> Bool {
        writtenDigests[path]?.contains(Self.sha256(data)) == true
    }

    /// Whether the journal records any version KubeSeed wrote at `path`.
    public func recordsAnyWrite(at path: String) -> Bool {
        writtenDigests[path] != nil
    }

    /// The SHA-256 of `data` in hex, as the journal records what KubeSeed wrote.
    public static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }

    private static func digests(_ records: [JournalRecord]) -> [String: Set<String>] {
        var digests: [String: Set<String>] = [:]
        for case .fileWritten(let path, let sha256) in records { digests[path, default: []].insert(sha256) }
        return digests
    }

    /// Keeps only `remaining` (what `reset` could not restore); removes the file and its directory when empty.
    public func replace(with remaining: [JournalRecord]) throws {
        if remaining.isEmpty {
            try root.remove(path)
            _ = try root.removeDirectoryIfEmpty((path as NSString).deletingLastPathComponent)
            records = []
            seenFile = .some(nil)
        } else {
            try save(remaining)
        }
    }

    /// Re-reads the file.
    public func reload() throws {
        // Taken before the read: a save between the two makes the next `record` read again, never skip one.
        let identity = root.identity(path)
        seenFile = nil
        reads += 1
        if let data = try root.read(path) {
            do {
                records = try Journal.decode(data, file: path).records
            } catch {
                throw HostError(.journal, "\(error)")
            }
        } else {
            records = []
        }
        seenFile = .some(identity)
    }

    private func save(_ records: [JournalRecord]) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !root.isDirectory(directory) { try root.makeDirectory(directory, mode: 0o700) }
        seenFile = nil
        try root.writeAtomically(path, Journal(records: records).encoded(), mode: 0o600)
        self.records = records
        seenFile = .some(root.identity(path))
    }
}
