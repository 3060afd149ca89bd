import Crypto
import Foundation
import KubeSeedCore

/// etcd snapshot files in a directory of their own (`<dataDir>/etcd/snapshots`, 0700): written whole or
/// not at all, checked against the hash etcd sends with them, listed, and pruned to a count.
public struct EtcdSnapshotFiles {
    public let root: HostRoot
    public let directory: String
    /// The last `save`'s result, one line, for `seed etcd snapshot list`.
    public var statusPath: String { "\(directory)/.last-result" }

    public init(root: HostRoot = HostRoot(), directory: String) {
        self.root = root
        self.directory = directory
    }

    /// A snapshot being received: a 0600 temporary beside its final name, renamed into place only by `finish`.
    public final class Writer: @unchecked Sendable {
        let root: HostRoot
        let fd: Int32
        let temporary: String
        public let path: String
        public private(set) var size = 0

        init(root: HostRoot, path: String) throws {
            self.root = root
            self.path = path
            let temporary = (path as NSString).deletingLastPathComponent + "/.partial-" + (path as NSString).lastPathComponent
            self.temporary = temporary
            do {
                fd = try systemCall(.file, "create \(temporary)") {
                    open(root.resolve(temporary), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
                }
            } catch let error as HostError where error.errnoValue == EEXIST {
                throw HostError(.file, "\(temporary) exists: another save is writing \((path as NSString).lastPathComponent) now, or one was killed",
                                cause: "remove \(temporary) if no save runs, or take this one under another name")
            }
        }

        public func append(_ data: Data) throws {
            try root.writeAll(fd, data, temporary)
            size += data.count
        }

        /// Flushes the file, checks it (`EtcdSnapshotFiles.check`), and renames it into place; a file that
        /// fails the check is removed and the failure thrown. Refuses to replace a file already at `path`.
        public func finish() throws -> Check {
            defer { close(fd) }
            do {
                try systemCall(.file, "fsync \(temporary)") { fsync(fd) }
                let check = try EtcdSnapshotFiles.check(root, temporary)
                guard check.hashMatches == true else {
                    throw HostError(.file, "the snapshot etcd sent does not match the SHA-256 it sent with it (\(size) bytes)",
                                    cause: "nothing was kept; take it again")
                }
                try root.moveWithoutReplacing(temporary, to: path)
                try root.syncDirectory(root.resolve((path as NSString).deletingLastPathComponent))
                return check
            } catch {
                unlink(root.resolve(temporary))
                throw error
            }
        }

        /// Removes what was received (a stream that failed).
        public func discard() {
            close(fd)
            unlink(root.resolve(temporary))
        }
    }

    /// Starts `fileName` (in the directory, made 0700 if missing; an absolute path as given).
    public func begin(_ fileName: String) throws -> Writer {
        if !root.isDirectory(directory) {
            let parent = (directory as NSString).deletingLastPathComponent
            if !root.isDirectory(parent) {
                do { try FileManager.default.createDirectory(atPath: root.resolve(parent), withIntermediateDirectories: true) } catch {
                    throw HostError(.file, "cannot create \(parent)", cause: "\(error)")
                }
            }
            try root.makeDirectory(directory, mode: 0o700)
        }
        let path = fileName.hasPrefix("/") ? fileName : "\(directory)/\(fileName)"
        guard !root.exists(path) else { throw HostError(.file, "\(path) exists", cause: "name another file; a snapshot is never written over one") }
        return try Writer(root: root, path: path)
    }

    /// What reading a snapshot file back found.
    public struct Check: Sendable, Equatable {
        public var size: Int
        /// `true`/`false`: the file ends with a SHA-256 and it matches / does not; `nil`: it carries none.
        public var hashMatches: Bool?
    }

    /// Reads `path` through and compares its last 32 bytes with the SHA-256 of the rest, where its size
    /// says it carries one (as `etcdctl snapshot restore` does).
    public static func check(_ root: HostRoot, _ path: String) throws -> Check {
        guard let handle = FileHandle(forReadingAtPath: root.resolve(path)) else {
            throw HostError(.file, "cannot open \(path)", cause: "is it there and readable?")
        }
        defer { try? handle.close() }
        let size = Int((try? handle.seekToEnd()) ?? 0)
        guard size % 512 == EtcdSnapshot.hashSize, size > EtcdSnapshot.hashSize else { return Check(size: size, hashMatches: nil) }
        try handle.seek(toOffset: 0)
        var hasher = SHA256()
        var left = size - EtcdSnapshot.hashSize
        while left > 0 {
            guard let chunk = try handle.read(upToCount: min(left, 1 << 20)), !chunk.isEmpty else {
                throw HostError(.file, "\(path) ended early", cause: "it changed while it was read")
            }
            hasher.update(data: chunk)
            left -= chunk.count
        }
        let stored = try handle.read(upToCount: EtcdSnapshot.hashSize) ?? Data()
        return Check(size: size, hashMatches: Data(hasher.finalize()) == stored)
    }

    /// One snapshot KubeSeed named, newest first in `list`.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var takenAt: Date
        public var size: Int
    }

    public func list() -> [Entry] {
        root.list(directory).compactMap { name in
            guard let taken = EtcdSnapshot.takenAt(name) else { return nil }
            return Entry(name: name, takenAt: taken, size: Int(root.identity("\(directory)/\(name)")?.size ?? 0))
        }.sorted { ($0.takenAt, $0.name) > ($1.takenAt, $1.name) }
    }

    /// Deletes all but the `keep` newest scheduled snapshots (`EtcdSnapshot.pruned`), and the partial files of saves killed more
    /// than an hour ago; returns what it deleted.
    public func prune(keep: Int, now: Date = Date()) throws -> [String] {
        let names = root.list(directory)
        let partials = names.filter { $0.hasPrefix(".partial-") }.compactMap { name in
            root.modifiedMicroseconds("\(directory)/\(name)").map { (name: name, modified: Date(timeIntervalSince1970: Double($0) / 1_000_000)) }
        }
        let doomed = EtcdSnapshot.pruned(names, keep: keep) + EtcdSnapshot.stalePartials(partials, now: now)
        for name in doomed { try root.remove("\(directory)/\(name)") }
        return doomed
    }

    public func recordResult(_ line: String) {
        try? root.writeAtomically(statusPath, Data((line + "\n").utf8), mode: 0o600)
    }

    public func lastResult() -> String? {
        ((try? root.readText(statusPath)) ?? nil)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
