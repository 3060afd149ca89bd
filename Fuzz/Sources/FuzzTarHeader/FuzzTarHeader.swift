import FuzzSupport
import KubeSeedCore

/// KubeSeedCore's tar header code (TarHeader.parse, padding, paxPath, KubernetesArchive.binaryName),
/// walked over the input the way a reader walks an archive: a header block, the member's data, its
/// padding, the next header. The first input byte is a mode: bit 0 set, each header block gets its
/// checksum fixed before it is parsed, so the fuzzer gets past the checksum to the fields.
/// Findings: a trap, a memory error, a hang or blow-up, an error that is not a `TarError`, a negative
/// size, a padding that does not reach a 512-byte boundary, and a short block that parses.
@main enum FuzzTarHeaderMain {
    static func main() { Fuzz.main { data, size in fuzz(data ?? Fuzz.empty, size) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let fixChecksums = data[0] & 1 != 0
    var bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let names = KubernetesArchive.nodeBinaries + KubernetesArchive.controlPlaneBinaries
    var offset = 0
    while offset + 512 <= bytes.count {
        if fixChecksums { TarChecksum.fix(&bytes, at: offset) }
        let header: TarHeader?
        do {
            header = try TarHeader.parse(Array(bytes[offset..<offset + 512]))
        } catch is TarError {
            break
        } catch {
            Fuzz.unexpected("tar-header", error)
        }
        offset += 512
        guard let header else { break }
        guard header.size >= 0 else { Fuzz.finding("tar-header", "negative size \(header.size) for '\(header.name)'") }
        let padding = TarHeader.padding(header.size)
        guard (0..<512).contains(padding), (header.size % 512 + padding) % 512 == 0 else {
            Fuzz.finding("tar-header", "padding \(padding) after \(header.size) bytes")
        }
        _ = KubernetesArchive.binaryName(forMember: header.name, wanted: names)
        let body = Array(bytes[offset..<offset + min(header.size, bytes.count - offset)])
        if header.kind == .paxHeader, let path = (try? TarHeader.paxRecords(body))?["path"] {
            _ = KubernetesArchive.binaryName(forMember: path, wanted: names)
        }
        guard header.size <= bytes.count - offset else { break }
        offset += header.size
        offset += min(padding, bytes.count - offset)
    }
    // The whole input as a pax header's data.
    _ = try? TarHeader.paxRecords(bytes)
    // A block that is not 512 bytes is refused.
    if bytes.count < 512 {
        do {
            _ = try TarHeader.parse(bytes)
            Fuzz.finding("tar-header", "a \(bytes.count)-byte block parsed as a header")
        } catch is TarError {
        } catch {
            Fuzz.unexpected("tar-header", error)
        }
    }
    return 0
}
