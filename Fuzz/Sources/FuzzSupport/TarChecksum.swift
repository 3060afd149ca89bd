/// Writes the right ustar checksum into a header block (unless it is all zero: the end-of-archive
/// block), so that fuzzed headers get past the checksum.
public enum TarChecksum {
    public static func fix(_ bytes: inout [UInt8], at offset: Int) {
        let block = offset..<offset + 512
        guard bytes[block].contains(where: { $0 != 0 }) else { return }
        for index in offset + 148..<offset + 156 { bytes[index] = UInt8(ascii: " ") }
        let sum = bytes[block].reduce(0) { $0 + Int($1) }
        // Seven octal digits and a NUL.
        var value = sum
        for index in (offset + 148..<offset + 155).reversed() {
            bytes[index] = UInt8(ascii: "0") + UInt8(value & 7)
            value >>= 3
        }
        bytes[offset + 155] = 0
    }
}

/// A gzip file holding `data` in stored (uncompressed) deflate blocks, with the right CRC-32 and
/// length: lets the fuzzer work on the tar stream itself rather than on its compressed form.
public enum StoredGzip {
    public static func wrap(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]
        var start = 0
        repeat {
            let count = min(65535, data.count - start)
            let final = start + count == data.count
            out.append(final ? 1 : 0)
            out += [UInt8(count & 0xff), UInt8(count >> 8), UInt8(~count & 0xff), UInt8((~count >> 8) & 0xff)]
            out += data[start..<start + count]
            start += count
        } while start < data.count
        out += littleEndian(crc32(data))
        out += littleEndian(UInt32(truncatingIfNeeded: data.count))
        return out
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xff), UInt8((value >> 8) & 0xff), UInt8((value >> 16) & 0xff), UInt8(value >> 24)]
    }

    static let table: [UInt32] = (0..<256).map { (n: UInt32) -> UInt32 in
        var c = n
        for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xffff_ffff
    }
}
