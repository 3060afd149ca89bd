import Crypto
import Foundation
import Glibc
import KubeSeedCore

/// Installs Kubernetes binaries from a release archive (`kubernetes-node-linux-amd64.tar.gz` or
/// `kubernetes-server-linux-amd64.tar.gz`).
///
/// With an expected SHA-256, a first pass hashes the compressed file and nothing is inflated or
/// written unless it matches. The extraction pass then streams the file through zlib and a tar
/// reader, writes only the wanted members to temporaries beside their targets (checked to be ELF
/// from their first bytes, hashed as written), hashes the compressed bytes again (the file may have
/// changed since), and moves the new binaries into place atomically (0755). Every size is bounded
/// (`ArchiveLimits`), memory stays flat, and nothing is moved unless the whole archive was read.
public struct BinaryInstaller {
    public let root: HostRoot
    public var binDir = NodePaths.binDir
    /// `false` forces dot-named temporaries instead of unnamed (`O_TMPFILE`) ones (tests of the fallback).
    var unnamedTemporaries = true

    public init(root: HostRoot = HostRoot()) { self.root = root }

    public struct Installed: Sendable, Equatable {
        public var name: String
        public var path: String
        public var bytes: Int
        /// `false` when the same binary was already there.
        public var changed: Bool
        /// `true` when the last install's record answered for it: the archive and the binary are the
        /// same files, unchanged since, and nothing was read.
        public var recorded = false
    }

    /// - Parameters:
    ///   - archive: host path of the .tar.gz (a regular file: it is read twice when `sha256` is given).
    ///   - sha256: expected SHA-256 of the archive (64 hex digits, either case), checked before anything
    ///     is inflated or written.
    ///   - wanted: the binaries to install, by name (`KubernetesArchive.nodeBinaries` or `.controlPlaneBinaries`).
    ///   - replace: allow replacing a different binary already in `binDir`.
    ///   - journal: records each new file so `seed-agent reset` removes it.
    ///   - limits: bounds on header, member and inflated sizes; an archive past one is refused.
    ///   - version: the Kubernetes release the binaries must be: each server or node binary that would
    ///     change is run with `--version` before anything is moved, and a binary of another release refuses
    ///     the whole archive.
    ///   - probeUnchanged: run the versioned binaries already in place too (an upgrade: the same bytes must
    ///     not be taken for another release).
    ///   - versionProbe: runs a binary (host path) with `--version` and returns what it printed.
    public func install(archive: String, sha256 expected: String?, wanted: [String] = KubernetesArchive.nodeBinaries,
                        replace: Bool, journal: ChangeJournal, limits: ArchiveLimits = ArchiveLimits(),
                        version: KubernetesVersion? = nil, probeUnchanged: Bool = false,
                        versionProbe: (String) throws -> String = BinaryInstaller.versionOutput) throws -> [Installed] {
        guard root.isDirectory(binDir) else {
            throw HostError(.file, "\(binDir) does not exist", cause: "run 'seed-agent apply' (or start the agent) first")
        }
        let expected = try expected.map(Self.checkedDigest)
        let target = { (name: String) in "\(binDir)/\(name)" }
        // Read once: it answers this install or is merged into the new record (callers hold the host lock).
        let recordData = (try? root.read(InstalledBinaries.path)) ?? nil
        let lastRecord = recordData.flatMap(InstalledBinaries.decode)
        if let record = lastRecord,
           record.covers(archive: archive, archiveIdentity: root.identity(archive), sha256: expected, version: version,
                         wanted: wanted, target: target, identity: root.identity) {
            return wanted.map { Installed(name: $0, path: target($0), bytes: record.binaries[$0]!.bytes, changed: false, recorded: true) }
        }
        let fd = try systemCall(.file, "open \(archive)") { open(root.resolve(archive), O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var archiveStat = stat()
        try systemCall(.file, "stat \(archive)") { fstat(fd, &archiveStat) }
        if let expected {
            let digest = try Self.sha256(fd: fd, path: archive)
            guard digest == expected else {
                throw HostError(.file, "\(archive) does not match the expected SHA-256",
                                cause: "expected \(expected), got \(digest); nothing was extracted; download it again or check the SHA-256 given")
            }
            do {
                try systemCall(.file, "rewind \(archive) after checking its SHA-256") { lseek(fd, 0, SEEK_SET) }
            } catch let error as HostError where error.errnoValue == ESPIPE {
                throw HostError(.file, "\(archive) cannot be read twice", cause: "give a regular file, not a pipe, with a SHA-256 to check")
            }
        }
        removeStaleTemporaries(wanted)
        var extractor = TarExtractor(root: root, binDir: binDir, archive: archive, wanted: wanted, limits: limits)
        extractor.unnamedTemporaries = unnamedTemporaries
        defer { extractor.discardTemporaries() }
        var hasher = expected.map { _ in SHA256() }
        try Gunzip.stream(fd: fd, path: archive, maxBytes: limits.decompressedBytes, onCompressed: { hasher?.update(bufferPointer: $0) }) { chunk in
            try extractor.consume(chunk)
        }
        if let expected, let hasher, Self.hex(hasher.finalize()) != expected {
            throw HostError(.file, "\(archive) changed while it was being read",
                            cause: "it matched the expected SHA-256 before extraction and not after; is something still writing it?")
        }
        if let member = extractor.truncatedMember {
            throw HostError(.file, "\(archive) ends inside \(member)", cause: "truncated tar data; download it again")
        }
        let missing = wanted.filter { extractor.extracted[$0] == nil }
        if !missing.isEmpty {
            throw HostError(.file, "\(archive) has no \(missing.joined(separator: ", "))",
                            cause: "expected kubernetes/node/bin/ or kubernetes/server/bin/ members; is this a Kubernetes node or server archive?")
        }
        var plan: [(temporary: ArchiveTemporary, changed: Bool)] = []
        for name in wanted {
            let temporary = extractor.extracted[name]!
            if let same = try Self.holds(root, temporary.target, bytes: temporary.bytes, digest: temporary.digest) {
                if same {
                    plan.append((temporary, false))
                    continue
                }
                guard replace else {
                    throw HostError(.file, "\(temporary.target) exists and differs from the archive's",
                                    cause: "pass --replace to overwrite it (reset will not bring the old one back)")
                }
            }
            plan.append((temporary, true))
        }
        // Each binary that will change is run (one already in place, byte for byte, was checked when it was installed).
        if let version {
            for name in wanted where KubernetesArchive.versionedBinaries.contains(name) && plan.contains(where: { $0.temporary.name == name && ($0.changed || probeUnchanged) }) {
                let path = try extractor.extracted[name]!.closeForRunning()
                let output = try versionProbe(root.resolve(path))
                guard let found = KubernetesVersion.fromVersionOutput(output) else {
                    throw HostError(.program, "\(name) from \(archive) did not print its version",
                                    cause: "'\(name) --version' printed \(Validate.shown(String(output.prefix(80)))); nothing was installed")
                }
                guard found == version else {
                    throw HostError(.program, "\(archive) holds Kubernetes \(found) (\(name) --version), not \(version)",
                                    cause: "the cluster's kubernetesVersion is \(version); bring the \(version) archive, or set kubernetesVersion to \(found); nothing was installed")
                }
            }
        }
        // New files are journaled as created; every version written is journaled by its SHA-256, so reset
        // removes a binary only while it is the one KubeSeed put there.
        var records: [JournalRecord] = []
        for item in plan where item.changed {
            guard let digest = item.temporary.digest else {
                if !root.exists(item.temporary.target) { records.append(.file(path: item.temporary.target, previous: nil, previousMode: nil)) }
                continue
            }
            records += try journal.writeRecords(item.temporary.target, sha256: Self.hex(digest), previous: .existence)
        }
        try journal.record(records)
        for item in plan where item.changed { try item.temporary.install() }
        if plan.contains(where: { $0.changed }) { try root.syncDirectory(root.resolve(binDir)) }
        try remember(InstalledBinaries(archive: archive, archiveIdentity: HostRoot.identity(archiveStat), sha256: expected, version: version?.description,
                                       binaries: [:]), plan.map(\.temporary), last: (recordData, lastRecord), journal: journal)
        return plan.map { Installed(name: $0.temporary.name, path: $0.temporary.target, bytes: $0.temporary.bytes, changed: $0.changed) }
    }

    /// Records what was installed or found (merged with the binaries the record already holds from the
    /// same archive: a master's and a node's lists overlap), journaled; written only when it differs.
    private func remember(_ record: InstalledBinaries, _ binaries: [ArchiveTemporary], last: (data: Data?, record: InstalledBinaries?),
                          journal: ChangeJournal) throws {
        var record = record
        if let previous = last.record, previous.archive == record.archive, previous.archiveIdentity == record.archiveIdentity, previous.sha256 == record.sha256, previous.version == record.version {
            record.binaries = previous.binaries
        }
        for binary in binaries {
            guard let identity = root.identity(binary.target) else { continue }
            record.binaries[binary.name] = InstalledBinaries.Binary(path: binary.target, bytes: binary.bytes, identity: identity)
        }
        let data = record.encoded()
        guard last.data != data else { return }
        try journal.recordWrite(InstalledBinaries.path, data, previous: .existence)
        try root.writeAtomically(InstalledBinaries.path, data, mode: 0o644)
    }

    /// What `path --version` prints (the live probe): the binary runs as nobody, without new privileges
    /// and with a clean environment, 60 s at most; it is not trusted until it is installed.
    public static func versionOutput(_ path: String) throws -> String {
        let setpriv = "/usr/bin/setpriv"
        let result = access(setpriv, X_OK) == 0
            ? try ProgramRunner.run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--", path, "--version"], timeout: .seconds(60))
            : try ProgramRunner.run(path, ["--version"], timeout: .seconds(60))
        guard result.status == 0 else {
            throw HostError(.program, "\((path as NSString).lastPathComponent) --version exited \(result.status)",
                            cause: "is it a Kubernetes binary for this machine? nothing was installed")
        }
        return result.output
    }

    /// The expected digest in lower case, or an error when it is not 64 hex digits.
    static func checkedDigest(_ text: String) throws -> String {
        let digest = text.lowercased()
        guard digest.utf8.count == 64, digest.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }) else {
            throw HostError(.file, "the expected SHA-256 \"\(text)\" is not 64 hex digits", cause: "give the digest published in the release's .sha256 file")
        }
        return digest
    }

    static func hex(_ digest: SHA256.Digest) -> String { digest.map { $0.hexDigits(width: 2) }.joined() }

    /// SHA-256 (hex) of what remains to read from `fd`, read in fixed-size chunks.
    static func sha256(fd: Int32, path: String) throws -> String {
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: Gunzip.bufferBytes)
        while true {
            let count = try buffer.withUnsafeMutableBytes { raw in
                try systemCall(.file, "read \(path)") { read(fd, raw.baseAddress, raw.count) }
            }
            if count == 0 { return hex(hasher.finalize()) }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    /// Whether the file at `hostPath` (following a symlink) holds `bytes` bytes with SHA-256 `digest`,
    /// read in fixed-size chunks and only when its size matches; `nil` when there is no such file.
    static func holds(_ root: HostRoot, _ hostPath: String, bytes: Int, digest: SHA256.Digest?) throws -> Bool? {
        let fd: Int32
        do {
            fd = try systemCall(.file, "open \(hostPath)") { open(root.resolve(hostPath), O_RDONLY | O_CLOEXEC) }
        } catch let error as HostError where error.errnoValue == ENOENT {
            return nil
        }
        defer { close(fd) }
        var st = stat()
        try systemCall(.file, "stat \(hostPath)") { fstat(fd, &st) }
        guard Int(st.st_size) == bytes, let digest else { return false }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: Gunzip.bufferBytes)
        while true {
            let count = try buffer.withUnsafeMutableBytes { raw in
                try systemCall(.file, "read \(hostPath)") { read(fd, raw.baseAddress, raw.count) }
            }
            if count == 0 { return hasher.finalize() == digest }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    /// Dot-named temporaries an install killed mid-way left behind (callers hold the host lock, so
    /// no other install is writing them).
    private func removeStaleTemporaries(_ wanted: [String]) {
        let entries = root.list(binDir)
        for name in wanted {
            for entry in entries where entry.hasPrefix(ArchiveTemporary.temporaryPrefix(name)) {
                unlink(root.resolve("\(binDir)/\(entry)"))
            }
        }
    }
}
