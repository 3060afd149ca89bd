/// One ustar / GNU tar header block, parsed. Pure.
public struct TarHeader: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case file, directory, symlink, gnuLongName, paxHeader, other }
    public var name: String
    public var size: Int
    public var mode: UInt16
    public var kind: Kind

    /// Parses a 512-byte header; `nil` for the all-zero end-of-archive block. Throws on a bad checksum
    /// or a size that is negative or does not fit in an `Int`.
    public static func parse(_ block: [UInt8]) throws -> TarHeader? {
        guard block.count == 512 else { throw TarError("short header block") }
        if block.allSatisfy({ $0 == 0 }) { return nil }
        let stored = octal(block[148..<156])
        var sum = 0
        for (index, byte) in block.enumerated() { sum += (148..<156).contains(index) ? 32 : Int(byte) }
        guard stored == sum else { throw TarError("header checksum mismatch (not a tar archive, or corrupted)") }
        var name = string(block[0..<100])
        if block[257..<262].elementsEqual("ustar".utf8) {
            let prefix = string(block[345..<500])
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        let kind: Kind
        switch block[156] {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .file
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "2"): kind = .symlink
        case UInt8(ascii: "L"): kind = .gnuLongName
        case UInt8(ascii: "x"): kind = .paxHeader
        default: kind = .other
        }
        let length = try size(block[124..<136])
        return TarHeader(name: name, size: length, mode: UInt16(truncatingIfNeeded: octal(block[100..<108])), kind: kind)
    }

    /// Bytes of padding after `size` bytes of data, to the next 512-byte boundary.
    public static func padding(_ size: Int) -> Int { (512 - size % 512) % 512 }

    /// The records of a pax extended header, keyword → value (a later record wins, as in POSIX).
    /// Each record is `"<length> <keyword>=<value>\n"`, its decimal length counting the whole record,
    /// so values may hold newlines. Throws when a length does not match the data.
    public static func paxRecords(_ data: [UInt8]) throws -> [String: String] {
        var records: [String: String] = [:]
        var start = data.startIndex
        while start < data.endIndex && data[start] != 0 {
            guard let space = data[start...].prefix(20).firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: data[start..<space], as: UTF8.self)),
                  length > space - start + 1, length <= data.endIndex - start, data[start + length - 1] == UInt8(ascii: "\n"),
                  let equals = data[(space + 1)..<(start + length - 1)].firstIndex(of: UInt8(ascii: "="))
            else { throw TarError("malformed pax extended header record at byte \(start)") }
            let keyword = String(decoding: data[(space + 1)..<equals], as: UTF8.self)
            records[keyword] = String(decoding: data[(equals + 1)..<(start + length - 1)], as: UTF8.self)
            start += length
        }
        return records
    }

    /// The size field: octal digits, or GNU tar's base-256 (first byte 0x80 and up) for 8 GiB and more.
    static func size(_ bytes: ArraySlice<UInt8>) throws -> Int {
        guard let first = bytes.first, first & 0x80 != 0 else { return octal(bytes) }
        // Base-256 is two's complement below the marker bit: bit 6 set means negative.
        guard first & 0x40 == 0 else { throw TarError("negative member size") }
        var value = Int(first & 0x3f)
        for byte in bytes.dropFirst() {
            guard value <= Int.max >> 8 else { throw TarError("member size does not fit in 64 bits") }
            value = value << 8 | Int(byte)
        }
        return value
    }

    static func octal(_ bytes: ArraySlice<UInt8>) -> Int {
        var value = 0
        for byte in bytes {
            if byte == 0 || byte == UInt8(ascii: " ") { if value > 0 { break } else { continue } }
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) else { break }
            value = value * 8 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

public struct TarError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Which binaries to take from a Kubernetes release archive, by member path.
public enum KubernetesArchive {
    /// The node binaries the agent runs.
    public static let nodeBinaries = ["kubelet", "kube-proxy"]
    /// What the first master runs, from `kubernetes-server-linux-amd64.tar.gz`.
    public static let controlPlaneBinaries = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]
    /// What a master installs from the server archive: it is a node too.
    public static let masterBinaries = controlPlaneBinaries + nodeBinaries
    /// The binaries that print `Kubernetes vX.Y.Z` for `--version` (kubectl is a client with its own skew).
    public static let versionedBinaries: Set<String> = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]
    /// Member paths in `kubernetes-node-linux-amd64.tar.gz` and `kubernetes-server-linux-amd64.tar.gz`.
    public static func binaryName(forMember path: String, wanted: [String]) -> String? {
        for prefix in ["kubernetes/node/bin/", "kubernetes/server/bin/"] where path.hasPrefix(prefix) {
            let name = String(path.dropFirst(prefix.count))
            if wanted.contains(name) { return name }
        }
        return nil
    }
}
