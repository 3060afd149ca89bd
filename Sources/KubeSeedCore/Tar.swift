/// One ustar / GNU tar header block, parsed. Pure.
public struct TarHeader: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case file, directory, symlink, gnuLongName, paxHeader, other }
    public var name: String
    public var size: Int
    public var mode: UInt16
    public var kind: Kind

    /// Parses a 512-byte header; `nil` for the all-zero end-of-archive block. Throws on a bad checksum.
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
        return TarHeader(name: name, size: octal(block[124..<136]), mode: UInt16(truncatingIfNeeded: octal(block[100..<108])), kind: kind)
    }

    /// Bytes of padding after `size` bytes of data, to the next 512-byte boundary.
    public static func padding(_ size: Int) -> Int { (512 - size % 512) % 512 }

    /// The `path=` value of a pax extended header, if any.
    public static func paxPath(_ data: [UInt8]) -> String? {
        for record in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            // "<length> path=<value>"
            guard let space = record.firstIndex(of: " ") else { continue }
            let field = record[record.index(after: space)...]
            if field.hasPrefix("path=") { return String(field.dropFirst(5)) }
        }
        return nil
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
    /// Member paths in `kubernetes-node-linux-amd64.tar.gz` and `kubernetes-server-linux-amd64.tar.gz`.
    public static func binaryName(forMember path: String, wanted: [String]) -> String? {
        for prefix in ["kubernetes/node/bin/", "kubernetes/server/bin/"] where path.hasPrefix(prefix) {
            let name = String(path.dropFirst(prefix.count))
            if wanted.contains(name) { return name }
        }
        return nil
    }
}
