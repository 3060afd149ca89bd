import Foundation
import KubeSeedCore

/// Streams a tar archive, writing wanted regular-file members to `ArchiveTemporary` files beside
/// their targets and passing over the rest without holding them. Memory is one 512-byte header plus
/// at most `limits.metadataBytes` of a pax extended header or GNU long name; disk is at most
/// `limits.memberBytes` per wanted member. A wanted member is checked to be ELF from its first four
/// bytes, before the rest of it is written.
struct TarExtractor {
    let root: HostRoot
    let binDir: String
    /// Host path of the archive, for messages.
    let archive: String
    let wanted: [String]
    let limits: ArchiveLimits
    /// `false` forces dot-named temporaries (tests of the fallback).
    var unnamedTemporaries = true
    /// Binary name → its complete temporary.
    private(set) var extracted: [String: ArchiveTemporary] = [:]
    /// The end-of-archive block was read.
    private(set) var ended = false
    private var header: [UInt8] = []
    private var remaining = 0
    private var skipPadding = 0
    /// The wanted member being written and its first bytes (up to 4, for the ELF check).
    private var current: ArchiveTemporary?
    private var currentHead: [UInt8] = []
    /// The pax extended header or GNU long-name entry being read: its kind, name and data.
    private var metadata: (kind: TarHeader.Kind, name: String, data: [UInt8])?
    /// What the last GNU long-name entry or pax header says about the next member.
    private var longName: String?
    private var pax: [String: String] = [:]
    /// Name of the member being read, for messages when the archive ends inside it.
    private var memberName = ""

    static let elfMagic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]

    init(root: HostRoot, binDir: String, archive: String, wanted: [String], limits: ArchiveLimits) {
        self.root = root
        self.binDir = binDir
        self.archive = archive
        self.wanted = wanted
        self.limits = limits
        header.reserveCapacity(512)
    }

    /// The archive ended inside a header or a member's data: the name of that member.
    var truncatedMember: String? {
        guard !ended else { return nil }
        if remaining > 0 { return memberName }
        return header.isEmpty ? nil : "the header after \(memberName.isEmpty ? "the start" : memberName)"
    }

    mutating func consume(_ chunk: UnsafeRawBufferPointer) throws {
        var bytes = chunk[...]
        while !bytes.isEmpty && !ended {
            if remaining > 0 {
                let take = min(remaining, bytes.count)
                let slice = UnsafeRawBufferPointer(rebasing: bytes.prefix(take))
                if current != nil {
                    try write(slice)
                } else if metadata != nil {
                    metadata!.data.append(contentsOf: slice)
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
            let take = min(512 - header.count, bytes.count)
            header.append(contentsOf: bytes.prefix(take))
            bytes = bytes.dropFirst(take)
            if header.count == 512 {
                let block = header
                header.removeAll(keepingCapacity: true)
                try startMember(block)
            }
        }
    }

    private mutating func write(_ slice: UnsafeRawBufferPointer) throws {
        guard let current else { return }
        if currentHead.count < 4 {
            currentHead.append(contentsOf: slice.prefix(4 - currentHead.count))
            if currentHead.count == 4 && currentHead != Self.elfMagic { throw notELF(current.name) }
        }
        try current.write(slice)
    }

    private func notELF(_ name: String) -> HostError {
        HostError(.file, "\(name) in \(archive) is not an ELF executable",
                  cause: "its first bytes are not \\x7fELF; is this a Kubernetes release archive for Linux?")
    }

    private mutating func startMember(_ block: [UInt8]) throws {
        let parsed: TarHeader?
        do { parsed = try TarHeader.parse(block) } catch {
            throw HostError(.file, "\(archive) is not a valid tar archive after \(memberName.isEmpty ? "its start" : memberName)", cause: "\(error)")
        }
        guard var member = parsed else { ended = true; return }
        switch member.kind {
        case .gnuLongName, .paxHeader:
            let what = member.kind == .paxHeader ? "pax extended header" : "GNU long-name entry"
            guard member.size <= limits.metadataBytes else {
                throw HostError(.file, "\(archive) has a \(what) of \(member.size) bytes (\(member.name))",
                                cause: "at most \(limits.metadataBytes) bytes are accepted; real ones hold a path and a few times; is this a Kubernetes release archive?")
            }
            var data: [UInt8] = []
            data.reserveCapacity(member.size)
            metadata = (member.kind, member.name, data)
        default:
            if let name = longName ?? pax["path"] { member.name = name }
            if let size = pax["size"] {
                guard let value = Int(size), value >= 0 else {
                    throw HostError(.file, "\(archive) gives \(member.name) a size of \"\(size)\" in its pax header", cause: "not a byte count")
                }
                member.size = value
            }
            longName = nil
            pax = [:]
            if member.kind == .file, let name = KubernetesArchive.binaryName(forMember: member.name, wanted: wanted) {
                guard member.size <= limits.memberBytes else {
                    throw HostError(.file, "\(member.name) in \(archive) is \(member.size) bytes",
                                    cause: "at most \(limits.memberBytes) bytes are accepted for one binary (kube-apiserver, the largest, is about 100 MB); is this a Kubernetes release archive?")
                }
                if let earlier = extracted.removeValue(forKey: name) {
                    // A member appearing twice: the later one wins, as when tar extracts.
                    try earlier.restart()
                    current = earlier
                } else {
                    current = try ArchiveTemporary(root: root, directory: binDir, name: name, unnamed: unnamedTemporaries)
                }
                currentHead = []
            }
        }
        memberName = member.name
        remaining = member.size
        skipPadding = TarHeader.padding(member.size)
        if remaining == 0 { try finishMember() }
    }

    private mutating func finishMember() throws {
        if let current {
            self.current = nil
            guard currentHead == Self.elfMagic else {
                current.discard()
                throw notELF(current.name)
            }
            try current.finish()
            extracted[current.name] = current
        }
        if let metadata {
            self.metadata = nil
            if metadata.kind == .gnuLongName {
                longName = String(decoding: metadata.data.prefix { $0 != 0 }, as: UTF8.self)
            } else {
                do {
                    pax.merge(try TarHeader.paxRecords(metadata.data)) { $1 }
                } catch {
                    throw HostError(.file, "\(archive) has a malformed pax extended header (\(metadata.name))", cause: "\(error)")
                }
            }
        }
    }

    /// Closes every temporary; those not installed are gone afterwards.
    func discardTemporaries() {
        for temporary in extracted.values { temporary.discard() }
        current?.discard()
    }
}
