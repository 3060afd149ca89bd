import Crypto
import Foundation
import Glibc
import KubeSeedCore

/// Imports the image archives in `ImageArchives.directory` into containerd, as the agent's last step
/// of a pass: each archive is hashed (checked against `SHA256SUMS` when the directory has one) and
/// read for the images it names; it is imported when one of them is missing from containerd (never
/// imported, or removed since: the kubelet's image garbage collection does not know containerd's
/// pinned label before 1.23 and containerd 1.7), then labelled pinned. An image that was not in
/// containerd before is journaled, so `reset` removes only what KubeSeed imported.
public struct ImageImporter {
    public let root: HostRoot
    public let store: ImageStore
    public var directory = ImageArchives.directory

    public init(root: HostRoot, store: ImageStore) {
        self.root = root
        self.store = store
    }

    /// What one pass found and did.
    public struct Outcome: Sendable {
        /// Archives whose images were imported in this pass.
        public var imported: [String] = []
        /// Archives whose images were all there already.
        public var present: [String] = []
        /// Archives left alone, with the reason (for the status).
        public var refused: [(name: String, reason: String)] = []

        /// One line for the status.
        public var summary: String {
            var parts: [String] = []
            if !imported.isEmpty { parts.append("imported \(imported.joined(separator: ", "))") }
            if !present.isEmpty { parts.append("\(present.count) archive\(present.count == 1 ? "" : "s") already in containerd") }
            for refusal in refused { parts.append("\(refusal.name): \(refusal.reason); not imported") }
            return parts.isEmpty ? "no archives in \(ImageArchives.directory)" : parts.joined(separator: "; ")
        }
    }

    /// The archive names in the directory, sorted; none when it does not exist.
    public func archives() -> [String] {
        root.list(directory).filter(ImageArchives.isArchiveName).sorted()
    }

    /// Imports what is missing. Throws only when containerd cannot be asked at all; a bad archive is
    /// refused in the outcome (nothing of it left in containerd) and the others are still imported.
    public func run(journal: ChangeJournal) throws -> Outcome {
        var outcome = Outcome()
        let names = archives()
        guard !names.isEmpty else { return outcome }
        var sums: [String: String]?
        let sumsPath = "\(directory)/\(ImageArchives.sumsFile)"
        if let file = try root.openWithoutFollowing(sumsPath, limit: ImageArchives.maximumIndexBytes) {
            do {
                guard file.kind == .regular, let data = file.data, data.count <= ImageArchives.maximumIndexBytes else {
                    throw TarError("\(ImageArchives.sumsFile) is not a regular file of at most \(ImageArchives.maximumIndexBytes) bytes")
                }
                sums = try ImageArchives.parseSums(String(decoding: data, as: UTF8.self))
            } catch {
                outcome.refused = names.map { ($0, "\(error)") }
                return outcome
            }
        }
        let ours = Set(journal.records.compactMap { record -> String? in
            if case .imageImported(let ref) = record { return ref } else { return nil }
        })
        var present = try store.references()
        for name in names {
            let path = "\(directory)/\(name)"
            let scanned: Scan
            do { scanned = try Self.scan(root, path) } catch {
                outcome.refused.append((name, Validate.printable("\(error)")))
                continue
            }
            switch ImageArchives.decide(name: name, digest: scanned.digest, refs: scanned.refs, sums: sums, present: present) {
            case .present:
                outcome.present.append(name)
            case .refuse(let reason):
                outcome.refused.append((name, reason))
            case .importArchive:
                // An import replaces an image of the same name: never one KubeSeed did not import.
                let theirs = scanned.refs.filter { present.contains($0) && !ours.contains($0) }
                guard theirs.isEmpty else {
                    outcome.refused.append((name, "containerd already has \(theirs.joined(separator: ", ")), which KubeSeed did not import; remove it or the archive"))
                    continue
                }
                guard Self.identity(root, path) == scanned.identity else {
                    outcome.refused.append((name, "it changed while it was being read; copy it under a dot name and rename it into place"))
                    continue
                }
                try journal.record(scanned.refs.filter { !present.contains($0) }.map { JournalRecord.imageImported($0) })
                let before = present
                var failure: String?
                do {
                    _ = try store.importArchive(root.resolve(path))
                } catch {
                    failure = "containerd refused it: \(Validate.printable("\(error)"))"
                }
                let after = try store.references()
                let appeared = after.subtracting(before)
                // containerd's CRI plugin names every image it sees in k8s.io by its ID as well (sha256:…).
                let unexpected = appeared.subtracting(scanned.refs).filter { !ImageArchives.isImageIDReference($0) }
                if failure == nil, !unexpected.isEmpty {
                    failure = "containerd named \(unexpected.sorted().map(Validate.shown).joined(separator: ", ")), which the archive's index does not"
                }
                if failure == nil {
                    do { for ref in scanned.refs { try store.label(ref, ImageArchives.pinnedLabel) } } catch {
                        failure = "could not label it pinned: \(Validate.printable("\(error)"))"
                    }
                }
                if let failure {
                    // Nothing half-imported: what this import created goes again.
                    for ref in appeared.sorted() { try? store.remove(ref) }
                    present = try store.references()
                    outcome.refused.append((name, failure))
                    continue
                }
                // The ID names the import made are KubeSeed's too: reset removes them with the image.
                try journal.record(appeared.filter(ImageArchives.isImageIDReference).sorted().map { JournalRecord.imageImported($0) })
                present = after
                outcome.imported.append(name)
            }
        }
        return outcome
    }

    /// What one read of an archive found.
    struct Scan {
        var digest: String
        var refs: [String]
        /// Device, inode, size and modification time when it was read.
        var identity: [Int]
    }

    static func identity(_ root: HostRoot, _ path: String) -> [Int]? {
        var st = stat()
        guard lstat(root.resolve(path), &st) == 0 else { return nil }
        return identity(st)
    }

    static func identity(_ st: stat) -> [Int] {
        [Int(st.st_dev), Int(st.st_ino), Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec)]
    }

    /// The archive's SHA-256 (hex) and the images its top-level index.json or manifest.json names,
    /// in one pass over the file: member data is hashed as it streams past, index files are kept
    /// (up to `ImageArchives.maximumIndexBytes`). Archives containerd would read differently are
    /// refused: pax headers, member names that are not clean, sizes past the end of the file.
    static func scan(_ root: HostRoot, _ path: String) throws -> Scan {
        let fd = try systemCall(.file, "open \(path)") { open(root.resolve(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        defer { close(fd) }
        var st = stat()
        try systemCall(.file, "stat \(path)") { fstat(fd, &st) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw TarError("not a regular file") }
        let fileSize = Int(st.st_size)
        var hasher = SHA256()
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var eof = false
        // Reads exactly `count` bytes (fewer only at end of file), hashing them.
        func take(_ count: Int) throws -> [UInt8] {
            while pending.count < count && !eof {
                let n = try buffer.withUnsafeMutableBytes { raw in try systemCall(.file, "read \(path)") { read(fd, raw.baseAddress, raw.count) } }
                if n == 0 { eof = true } else {
                    buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    pending += buffer[0..<n]
                }
            }
            let out = Array(pending.prefix(count))
            pending.removeFirst(out.count)
            return out
        }
        var index: Data?, manifest: Data?
        var ociLayout = false
        var longName: String?
        while true {
            let block = try take(512)
            guard block.count == 512 else { throw TarError("ends inside a tar header (truncated?)") }
            guard let header = try TarHeader.parse(block) else { break }
            guard header.size <= fileSize else { throw TarError("a member's size (\(header.size) bytes) is past the end of the file (truncated?)") }
            guard header.kind != .paxHeader else { throw TarError("it has pax extended headers, which are not read here; write it as a ustar or GNU tar") }
            var name = longName ?? header.name
            longName = nil
            if name.hasPrefix("./") { name.removeFirst(2) }
            if name.hasSuffix("/") && header.kind == .directory { name.removeLast() }
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard !name.isEmpty || header.kind == .directory, !parts.contains(".."), !parts.contains("."), !(parts.dropLast().contains("")) else {
                throw TarError("a member is named \(Validate.shown(name)), which is not a clean path")
            }
            let keep = header.kind == .file && (name == "index.json" || name == "manifest.json") || header.kind == .gnuLongName
            if header.kind == .file && name == "oci-layout" { ociLayout = true }
            var remaining = header.size + TarHeader.padding(header.size)
            if keep {
                guard header.size <= ImageArchives.maximumIndexBytes else { throw TarError("\(Validate.shown(name)) is larger than \(ImageArchives.maximumIndexBytes) bytes") }
                let data = try take(header.size)
                guard data.count == header.size else { throw TarError("ends inside \(Validate.shown(name)) (truncated?)") }
                remaining -= header.size
                switch header.kind {
                case .gnuLongName: longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                default:
                    guard (name == "index.json" ? index : manifest) == nil else { throw TarError("\(name) appears twice") }
                    if name == "index.json" { index = Data(data) } else { manifest = Data(data) }
                }
            }
            while remaining > 0 {
                let chunk = try take(min(remaining, 1 << 16))
                guard !chunk.isEmpty else { throw TarError("ends inside \(Validate.shown(name)) (truncated?)") }
                remaining -= chunk.count
            }
        }
        // The rest (end-of-archive blocks, padding) still counts for the digest.
        while !(try take(1 << 16)).isEmpty {}
        let refs = try ImageArchives.references(indexJSON: index, manifestJSON: manifest, ociLayout: ociLayout)
        return Scan(digest: hasher.finalize().map { $0.hexDigits(width: 2) }.joined(), refs: refs, identity: identity(st))
    }
}
