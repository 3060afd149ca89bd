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
    public struct Outcome: Sendable, Equatable {
        /// Archives whose images were imported in this pass.
        public var imported: [String] = []
        /// Archives whose images were all there already.
        public var present: [String] = []
        /// Archives left alone, with the reason (for the status).
        public var refused: [(name: String, reason: String)] = []

        public static func == (a: Outcome, b: Outcome) -> Bool {
            a.imported == b.imported && a.present == b.present && a.refused.map(\.name) == b.refused.map(\.name) && a.refused.map(\.reason) == b.refused.map(\.reason)
        }

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
    /// refused in the outcome and the others are still imported.
    public func run(journal: ChangeJournal) throws -> Outcome {
        var outcome = Outcome()
        let names = archives()
        guard !names.isEmpty else { return outcome }
        var sums: [String: String]?
        if let text = try root.readText("\(directory)/\(ImageArchives.sumsFile)") {
            do { sums = try ImageArchives.parseSums(text) } catch {
                outcome.refused = names.map { ($0, "\(error)") }
                return outcome
            }
        }
        var present = try store.references()
        for name in names {
            let path = "\(directory)/\(name)"
            let scanned: (digest: String, refs: [String])
            do { scanned = try Self.scan(root, path) } catch {
                outcome.refused.append((name, "\(error)"))
                continue
            }
            switch ImageArchives.decide(name: name, digest: scanned.digest, refs: scanned.refs, sums: sums, present: present) {
            case .present:
                outcome.present.append(name)
            case .refuse(let reason):
                outcome.refused.append((name, reason))
            case .importArchive:
                let new = scanned.refs.filter { !present.contains($0) }
                try journal.record(new.map { JournalRecord.imageImported($0) })
                let unpacked: [String]
                do { unpacked = try store.importArchive(root.resolve(path)) } catch {
                    outcome.refused.append((name, "containerd refused it: \(error)"))
                    continue
                }
                for ref in Set(scanned.refs + unpacked).sorted() { try store.label(ref, ImageArchives.pinnedLabel) }
                present.formUnion(scanned.refs)
                present.formUnion(unpacked)
                outcome.imported.append(name)
            }
        }
        return outcome
    }

    /// The archive's SHA-256 (hex) and the images its top-level index.json or manifest.json names,
    /// in one pass over the file: member data is hashed as it streams past, index files are kept
    /// (up to `ImageArchives.maximumIndexBytes`).
    static func scan(_ root: HostRoot, _ path: String) throws -> (digest: String, refs: [String]) {
        let fd = try systemCall(.file, "open \(path)") { open(root.resolve(path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(fd) }
        var st = stat()
        try systemCall(.file, "stat \(path)") { fstat(fd, &st) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw TarError("not a regular file") }
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
        var longName: String?
        var ended = false
        while !ended {
            let block = try take(512)
            guard block.count == 512 else { throw TarError("ends inside a tar header (truncated?)") }
            guard let header = try TarHeader.parse(block) else { ended = true; break }
            let name = (longName ?? header.name).hasPrefix("./") ? String((longName ?? header.name).dropFirst(2)) : (longName ?? header.name)
            longName = nil
            let keep = header.kind == .file && (name == "index.json" || name == "manifest.json") || header.kind == .gnuLongName
            var remaining = header.size + TarHeader.padding(header.size)
            if keep {
                guard header.size <= ImageArchives.maximumIndexBytes else { throw TarError("\(name) is larger than \(ImageArchives.maximumIndexBytes) bytes") }
                let data = try take(header.size)
                guard data.count == header.size else { throw TarError("ends inside \(name) (truncated?)") }
                remaining -= header.size
                switch header.kind {
                case .gnuLongName: longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                default: if name == "index.json" { index = Data(data) } else { manifest = Data(data) }
                }
            }
            while remaining > 0 {
                let chunk = try take(min(remaining, 1 << 16))
                guard !chunk.isEmpty else { throw TarError("ends inside \(name) (truncated?)") }
                remaining -= chunk.count
            }
        }
        // The rest (end-of-archive blocks, padding) still counts for the digest.
        while !(try take(1 << 16)).isEmpty {}
        let refs = try ImageArchives.references(indexJSON: index, manifestJSON: manifest)
        return (hasher.finalize().map { $0.hexDigits(width: 2) }.joined(), refs)
    }
}
