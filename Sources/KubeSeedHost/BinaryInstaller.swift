import Crypto
import CZlib
import Foundation
import Glibc
import KubeSeedCore

/// Installs Kubernetes binaries from a release archive (`kubernetes-node-linux-amd64.tar.gz` or
/// `kubernetes-server-linux-amd64.tar.gz`): streams it once through SHA-256, zlib and a tar reader,
/// extracts only the wanted members, checks they are ELF executables, and moves them into place
/// atomically (0755). Nothing is moved unless the whole archive verified.
public struct BinaryInstaller {
    public let root: HostRoot
    public var binDir = NodePaths.binDir

    public init(root: HostRoot = HostRoot()) { self.root = root }

    public struct Installed: Sendable, Equatable {
        public var name: String
        public var path: String
        public var bytes: Int
        /// `false` when the same binary was already there.
        public var changed: Bool
    }

    /// - Parameters:
    ///   - archive: host path of the .tar.gz.
    ///   - sha256: expected SHA-256 of the archive (hex), checked before anything is installed.
    ///   - replace: allow replacing a different binary already in `binDir`.
    ///   - journal: records each new file so `seed-agent reset` removes it.
    public func install(archive: String, sha256 expected: String?, wanted: [String] = KubernetesArchive.nodeBinaries,
                        replace: Bool, journal: ChangeJournal) throws -> [Installed] {
        guard root.isDirectory(binDir) else {
            throw HostError(.file, "\(binDir) does not exist", cause: "run 'seed-agent apply' (or start the agent) first")
        }
        let fd = try systemCall(.file, "open \(archive)") { open(root.resolve(archive), O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var extractor = TarExtractor(root: root, binDir: binDir, wanted: wanted)
        defer { extractor.discardTemporaries() }
        var hasher = SHA256()
        try Gunzip.stream(fd: fd, path: archive, onCompressed: { hasher.update(bufferPointer: $0) }) { chunk in
            try extractor.consume(chunk)
        }
        let digest = hasher.finalize().map { $0.hexDigits(width: 2) }.joined()
        if let expected, expected.lowercased() != digest {
            throw HostError(.file, "\(archive) does not match the expected SHA-256", cause: "expected \(expected.lowercased()), got \(digest)")
        }
        let missing = wanted.filter { extractor.extracted[$0] == nil }
        if !missing.isEmpty {
            throw HostError(.file, "\(archive) has no \(missing.joined(separator: ", "))",
                            cause: "expected kubernetes/node/bin/ or kubernetes/server/bin/ members; is this a Kubernetes node or server archive?")
        }
        var plan: [(name: String, temporary: String, target: String, bytes: Int, changed: Bool)] = []
        for name in wanted {
            let (temporary, bytes) = extractor.extracted[name]!
            guard let head = try root.read(temporary)?.prefix(4), head.elementsEqual([0x7f, 0x45, 0x4c, 0x46]) else {
                throw HostError(.file, "\(name) in \(archive) is not an ELF executable")
            }
            let target = "\(binDir)/\(name)"
            if let existing = try root.read(target) {
                if try root.read(temporary) == existing {
                    plan.append((name, temporary, target, bytes, false))
                    continue
                }
                guard replace else {
                    throw HostError(.file, "\(target) exists and differs from the archive's", cause: "pass --replace to overwrite it (reset will not bring the old one back)")
                }
            }
            plan.append((name, temporary, target, bytes, true))
        }
        try journal.record(plan.filter { $0.changed && !root.exists($0.target) }.map { .file(path: $0.target, previous: nil, previousMode: nil) })
        var installed: [Installed] = []
        for item in plan {
            if item.changed {
                try systemCall(.file, "set the mode of \(item.target)") { chmod(root.resolve(item.temporary), 0o755) }
                try systemCall(.file, "move \(item.name) into \(binDir)") { rename(root.resolve(item.temporary), root.resolve(item.target)) }
            }
            installed.append(Installed(name: item.name, path: item.target, bytes: item.bytes, changed: item.changed))
        }
        return installed
    }
}

/// Streams a tar archive, writing wanted regular-file members to temporary files beside their target.
struct TarExtractor {
    let root: HostRoot
    let binDir: String
    let wanted: [String]
    /// Binary name → (temporary host path, size).
    var extracted: [String: (String, Int)] = [:]
    private var pending: [UInt8] = []
    private var remaining = 0
    private var skipPadding = 0
    private var current: (name: String, fd: Int32, path: String)?
    private var longName: String?
    private var paxData: [UInt8]?
    private var collectingPax = false
    private var ended = false

    init(root: HostRoot, binDir: String, wanted: [String]) {
        self.root = root
        self.binDir = binDir
        self.wanted = wanted
    }

    mutating func consume(_ chunk: UnsafeRawBufferPointer) throws {
        var bytes = chunk[...]
        while !bytes.isEmpty && !ended {
            if remaining > 0 {
                let take = min(remaining, bytes.count)
                let slice = UnsafeRawBufferPointer(rebasing: bytes.prefix(take))
                if let current {
                    var offset = 0
                    while offset < slice.count {
                        offset += try systemCall(.file, "write \(current.path)") {
                            write(current.fd, slice.baseAddress! + offset, slice.count - offset)
                        }
                    }
                } else if collectingPax {
                    paxData?.append(contentsOf: slice)
                }
                remaining -= take
                bytes = bytes.dropFirst(take)
                if remaining == 0 { try finishMember() }
                continue
            }
            if skipPadding > 0 {
                let take = min(skipPadding, bytes.count)
                skipPadding -= take
                bytes = bytes.dropFirst(take)
                continue
            }
            let take = min(512 - pending.count, bytes.count)
            pending.append(contentsOf: bytes.prefix(take))
            bytes = bytes.dropFirst(take)
            if pending.count == 512 {
                let block = pending
                pending = []
                try startMember(block)
            }
        }
    }

    private mutating func startMember(_ block: [UInt8]) throws {
        let header: TarHeader?
        do { header = try TarHeader.parse(block) } catch { throw HostError(.file, "reading the archive", cause: "\(error)") }
        guard var header else { ended = true; return }
        remaining = header.size
        skipPadding = TarHeader.padding(header.size)
        switch header.kind {
        case .gnuLongName, .paxHeader:
            collectingPax = true
            paxData = []
            longName = header.kind == .gnuLongName ? "" : nil
        case .file:
            if let name = longName, !name.isEmpty { header.name = name }
            longName = nil
            if let name = KubernetesArchive.binaryName(forMember: header.name, wanted: wanted) {
                let path = "\(binDir)/.\(name).kubeseed-\(getpid())"
                let fd = try systemCall(.file, "create \(path)") {
                    open(root.resolve(path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
                }
                current = (name, fd, path)
                extracted[name] = (path, header.size)
            }
        default:
            longName = nil
        }
        if remaining == 0 { try finishMember() }
    }

    private mutating func finishMember() throws {
        if let current {
            defer { close(current.fd) }
            try systemCall(.file, "fsync \(current.path)") { fsync(current.fd) }
            self.current = nil
        }
        if collectingPax {
            let data = paxData ?? []
            if longName == "" {
                longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
            } else if let path = TarHeader.paxPath(data) {
                longName = path
            }
            collectingPax = false
            paxData = nil
        }
    }

    func discardTemporaries() {
        for (_, (path, _)) in extracted where root.exists(path) { unlink(root.resolve(path)) }
        if let current { close(current.fd) }
    }
}

/// Streams a gzip file through zlib.
enum Gunzip {
    static func stream(fd: Int32, path: String, onCompressed: (UnsafeRawBufferPointer) -> Void,
                       onData: (UnsafeRawBufferPointer) throws -> Void) throws {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header and check its CRC.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw HostError(.file, "could not start zlib")
        }
        defer { inflateEnd(&stream) }
        var input = [UInt8](repeating: 0, count: 1 << 20)
        var output = [UInt8](repeating: 0, count: 1 << 20)
        var finished = false
        while !finished {
            let count = try input.withUnsafeMutableBytes { raw in
                try systemCall(.file, "read \(path)") { read(fd, raw.baseAddress, raw.count) }
            }
            if count == 0 { throw HostError(.file, "\(path) ends early", cause: "truncated gzip data") }
            try input.withUnsafeMutableBytes { inRaw in
                onCompressed(UnsafeRawBufferPointer(rebasing: inRaw[0..<count]))
                stream.next_in = inRaw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(count)
                repeat {
                    let produced = try output.withUnsafeMutableBytes { outRaw -> Int in
                        stream.next_out = outRaw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        stream.avail_out = uInt(outRaw.count)
                        let status = inflate(&stream, Z_NO_FLUSH)
                        if status == Z_STREAM_END { finished = true } else if status != Z_OK && status != Z_BUF_ERROR {
                            let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                            throw HostError(.file, "\(path) is not a valid gzip file", cause: message)
                        }
                        return outRaw.count - Int(stream.avail_out)
                    }
                    if produced > 0 { try output.withUnsafeBytes { try onData(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
                } while stream.avail_out == 0 && !finished
            }
        }
    }
}
