import Foundation
import Glibc
import KubeSeedCore

/// Gives back, before a long sleep, the page-table entries of this process's own executable that hold
/// clean, read-only pages (code and constants touched during a pass): they stay in the page cache and
/// fault back in on use, but no longer count in the process's resident memory.
public enum IdlePages {
    /// Returns the kB no longer resident; 0 when `/proc` cannot be read.
    @discardableResult
    public static func releaseExecutablePages(smaps: String = "/proc/self/smaps", executable: String = "/proc/self/exe") -> Int {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink(executable, &buffer, buffer.count - 1)
        guard length > 0, let text = try? String(contentsOfFile: smaps, encoding: .utf8) else { return 0 }
        let file = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var released = 0
        for range in SMaps.cleanReadOnlyMappings(text, file: file) {
            guard let address = UnsafeMutableRawPointer(bitPattern: range.start) else { continue }
            if madvise(address, Int(range.end - range.start), MADV_DONTNEED) == 0 { released += range.resident }
        }
        return released
    }
}
