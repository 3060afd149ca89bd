import Foundation

/// Pure parsers for IP addresses and CIDRs (no sockets, no libc).
public enum IPAddress {
    /// The 4 bytes of a dotted IPv4 address, or `nil` (`010.0.0.1`, `1.2.3`, `256.0.0.1` are rejected).
    public static func v4(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.isASCIIDigits,
                  !(part.count > 1 && part.hasPrefix("0")), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// The 16 bytes of an IPv6 address (with `::` compression; no zone), or `nil`.
    public static func v6(_ s: String) -> [UInt8]? {
        guard s.contains(":"), !s.contains(":::"), s.allSatisfy({ $0.isASCIIHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ text: String) -> [UInt16]? {
            if text.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = text.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, piece.contains("."), let v4 = v4(String(piece)) {
                    result.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    result.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                } else {
                    guard !piece.isEmpty, piece.count <= 4, let value = UInt16(piece, radix: 16) else { return nil }
                    result.append(value)
                }
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    public static func isValid(_ s: String) -> Bool { v4(s) != nil || v6(s) != nil }

    /// The address's bytes: 4 for IPv4, 16 for IPv6; `nil` when `s` is not an address.
    public static func bytes(_ s: String) -> [UInt8]? { v4(s) ?? v6(s) }

    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as its 4 IPv4 bytes; anything else as it is.
    /// Clients treat the two forms as one address, so comparisons must too.
    public static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return bytes }
        return Array(bytes[12..<16])
    }

    /// Whether two texts name the same address (`2001:db8::1` and `2001:DB8:0:0::1` do, and so do
    /// `::ffff:192.0.2.1` and `192.0.2.1`); compared as bytes.
    public static func same(_ a: String, _ b: String) -> Bool {
        guard let left = bytes(a), let right = bytes(b) else { return false }
        // An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address it maps.
        return unmapped(left) == unmapped(right)
    }

    /// A host as it goes into a URL or `host:port`: IPv6 addresses in brackets.
    public static func urlHost(_ host: String) -> String { v6(host) != nil ? "[\(host)]" : host }

    /// `https://HOST:PORT`, with an IPv6 host in brackets.
    public static func httpsURL(_ host: String, port: Int) -> String { "https://\(urlHost(host)):\(port)" }

    /// Address bytes and prefix length of a CIDR such as `10.254.0.0/16`; host bits must be zero.
    public static func cidr(_ s: String) -> (address: [UInt8], prefix: Int)? {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let prefix = Int(parts[1]), parts[1].isASCIIDigits,
              let address = v4(String(parts[0])) ?? v6(String(parts[0])) else { return nil }
        guard prefix >= 0, prefix <= address.count * 8 else { return nil }
        for bit in prefix..<(address.count * 8) where address[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 { return nil }
        return (address, prefix)
    }

    /// Whether two CIDRs share any address (same family; either contains the other's network address).
    public static func overlaps(_ a: String, _ b: String) -> Bool {
        guard let (left, leftPrefix) = cidr(a), let (right, rightPrefix) = cidr(b), left.count == right.count else { return false }
        let prefix = min(leftPrefix, rightPrefix)
        for bit in 0..<prefix where (left[bit / 8] ^ right[bit / 8]) & (0x80 >> UInt8(bit % 8)) != 0 { return false }
        return true
    }

    /// Whether `ip` lies inside `cidr` (same family).
    public static func contains(cidr: String, ip: String) -> Bool {
        guard let (network, prefix) = self.cidr(cidr), let address = v4(ip) ?? v6(ip), address.count == network.count else { return false }
        for bit in 0..<prefix where (address[bit / 8] ^ network[bit / 8]) & (0x80 >> UInt8(bit % 8)) != 0 { return false }
        return true
    }
}

extension Duration {
    /// Whole milliseconds, for progress lines and timeouts.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
