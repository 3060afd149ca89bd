import Foundation
import Glibc

/// Blocks until something changes in watched directories (inotify): no polling, no wake-ups.
public final class DirectoryWatcher {
    private let fd: Int32
    private var watches: [Int32: String] = [:]

    public init() throws {
        fd = try systemCall(.file, "start inotify") { inotify_init1(Int32(IN_CLOEXEC)) }
    }

    deinit { close(fd) }

    /// Watches `path` (a directory) for files written, moved in, created or removed.
    public func watch(_ path: String) throws {
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_FROM)
        let wd = try systemCall(.file, "watch \(path)") { inotify_add_watch(fd, path, mask) }
        watches[wd] = path
    }

    /// Waits for the next batch of events, at most `timeout` (nil: forever); returns the paths
    /// (directory/name) that changed, none when the time ran out.
    public func next(timeout: Duration? = nil) throws -> [String] {
        if let timeout {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            let ready = try systemCall(.file, "wait for inotify events") { poll(&entry, 1, milliseconds) }
            if ready == 0 { return [] }
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try buffer.withUnsafeMutableBytes { raw in
            try systemCall(.file, "read inotify events") { read(fd, raw.baseAddress, raw.count) }
        }
        var changed: [String] = []
        var offset = 0
        let headerSize = MemoryLayout<inotify_event>.size
        while offset + headerSize <= count {
            let (wd, nameLength) = buffer.withUnsafeBytes { raw -> (Int32, Int) in
                let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                return (event.wd, Int(event.len))
            }
            let nameBytes = buffer[(offset + headerSize)..<(offset + headerSize + nameLength)].prefix { $0 != 0 }
            let name = String(decoding: nameBytes, as: UTF8.self)
            if let directory = watches[wd] { changed.append(name.isEmpty ? directory : "\(directory)/\(name)") }
            offset += headerSize + nameLength
        }
        return changed
    }
}
