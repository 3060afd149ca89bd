import CZlib
import Glibc

/// Streams a gzip file through zlib with fixed-size buffers (1 MiB in, 1 MiB out), whatever it inflates to.
enum Gunzip {
    /// Size of the read and inflate buffers.
    static let bufferBytes = 1 << 20

    /// Reads `fd` to its end, passing each chunk read to `onCompressed` and each chunk inflated to
    /// `onData`. A file of several gzip members one after the other (`cat a.gz b.gz`) is read as one
    /// stream, as gzip(1) and GNU tar do. Throws when the data is not gzip, ends inside a member, or
    /// would inflate to more than `maxBytes` (nothing past the bound reaches `onData`).
    static func stream(fd: Int32, path: String, maxBytes: Int, onCompressed: (UnsafeRawBufferPointer) -> Void,
                       onData: (UnsafeRawBufferPointer) throws -> Void) throws {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header and check its CRC.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw HostError(.file, "could not start zlib")
        }
        defer { inflateEnd(&stream) }
        var input = [UInt8](repeating: 0, count: bufferBytes)
        var output = [UInt8](repeating: 0, count: bufferBytes)
        var inflated = 0
        // True between the end of one gzip member and the first byte of the next, the only place the
        // file may end.
        var betweenMembers = false
        while true {
            let count = try input.withUnsafeMutableBytes { raw in
                try systemCall(.file, "read \(path)") { read(fd, raw.baseAddress, raw.count) }
            }
            if count == 0 {
                if betweenMembers { return }
                throw HostError(.file, "\(path) ends early", cause: "truncated gzip data; download it again")
            }
            try input.withUnsafeMutableBytes { inRaw in
                onCompressed(UnsafeRawBufferPointer(rebasing: inRaw[0..<count]))
                stream.next_in = inRaw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(count)
                while stream.avail_in > 0 || !betweenMembers {
                    if betweenMembers {
                        // Another member follows the one that ended: start over on its header.
                        guard inflateReset(&stream) == Z_OK else { throw HostError(.file, "could not restart zlib") }
                        betweenMembers = false
                    }
                    var status = Z_OK
                    let produced = try output.withUnsafeMutableBytes { outRaw -> Int in
                        stream.next_out = outRaw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        stream.avail_out = uInt(outRaw.count)
                        status = inflate(&stream, Z_NO_FLUSH)
                        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                            let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                            throw HostError(.file, "\(path) is not a valid gzip file", cause: message)
                        }
                        return outRaw.count - Int(stream.avail_out)
                    }
                    if produced > 0 {
                        guard produced <= maxBytes - inflated else {
                            throw HostError(.file, "\(path) inflates to more than \(maxBytes) bytes",
                                            cause: "refused as a possible gzip bomb: no Kubernetes release archive holds that much; is this the right file?")
                        }
                        inflated += produced
                        try output.withUnsafeBytes { try onData(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
                    }
                    if status == Z_STREAM_END {
                        betweenMembers = true
                    } else if stream.avail_out > 0 {
                        break   // all input consumed (or held in zlib's window): read more
                    }
                }
            }
        }
    }
}
