import Foundation
import KubeSeedCore

/// The write-ahead change journal on the host (`/var/lib/kubeseed/journal.json`, 0600): every change
/// KubeSeed makes is recorded here, with what was there before, before the change is made. One
/// instance is loaded per command and handed to everything that changes the host (the step runner,
/// the PKI store, the binary installer, the token store), so `reset` can restore exactly.
public final class ChangeJournal {
    public let root: HostRoot
    public let path: String
    public private(set) var records: [JournalRecord]

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
        // Re-read first: a record written by anyone else holding the host lock in this process is never dropped.
        try reload()
        var journal = Journal(records: records)
        var added = false
        for record in new where journal.add(record) { added = true }
        guard added else { return false }
        try save(journal.records)
        return true
    }

    /// Whether `data` is exactly what KubeSeed wrote at `path` (a file changed since is someone else's).
    public func recordsWrite(of data: Data, at path: String) -> Bool {
        records.contains(.fileWritten(path: path, sha256: StepRunner.sha256(data)))
    }

    /// Keeps only `remaining` (what `reset` could not restore); removes the file and its directory when empty.
    public func replace(with remaining: [JournalRecord]) throws {
        if remaining.isEmpty {
            try root.remove(path)
            _ = try root.removeDirectoryIfEmpty((path as NSString).deletingLastPathComponent)
            records = []
        } else {
            try save(remaining)
        }
    }

    /// Re-reads the file.
    public func reload() throws {
        if let data = try root.read(path) {
            do {
                records = try Journal.decode(data, file: path).records
            } catch {
                throw HostError(.journal, "\(error)")
            }
        } else {
            records = []
        }
    }

    private func save(_ records: [JournalRecord]) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !root.isDirectory(directory) { try root.makeDirectory(directory, mode: 0o700) }
        try root.writeAtomically(path, Journal(records: records).encoded(), mode: 0o600)
        self.records = records
    }
}
