import CLinux
import Foundation
import Glibc
import KubeSeedCore

/// The host's file system seen from a root directory. Every file operation of KubeSeed goes
/// through one, so tests run the real code against a temporary directory (`HostRoot(path: tmp)`).
public struct HostRoot: Sendable {
    public let path: String

    public init(path: String = "/") {
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    /// The real path of a host path (`/etc/fstab` → `<root>/etc/fstab`).
    public func resolve(_ hostPath: String) -> String {
        path == "/" ? hostPath : path + hostPath
    }

    public func exists(_ hostPath: String) -> Bool {
        var st = stat()
        return lstat(resolve(hostPath), &st) == 0
    }

    /// Whether this process may read `hostPath`.
    public func isReadable(_ hostPath: String) -> Bool {
        access(resolve(hostPath), R_OK) == 0
    }

    /// Whether `hostPath` is a file this process may execute.
    public func isExecutable(_ hostPath: String) -> Bool {
        access(resolve(hostPath), X_OK) == 0 && !isDirectory(hostPath)
    }

    public func isDirectory(_ hostPath: String) -> Bool {
        var st = stat()
        return stat(resolve(hostPath), &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Permission bits, or `nil` when the file does not exist.
    public func mode(_ hostPath: String) -> UInt16? {
        var st = stat()
        guard stat(resolve(hostPath), &st) == 0 else { return nil }
        return UInt16(st.st_mode & 0o7777)
    }

    /// Last modification time in microseconds since the epoch, or `nil` when the file does not exist.
    public func modifiedMicroseconds(_ hostPath: String) -> UInt64? {
        var st = stat()
        guard stat(resolve(hostPath), &st) == 0 else { return nil }
        return UInt64(st.st_mtim.tv_sec) * 1_000_000 + UInt64(st.st_mtim.tv_nsec) / 1000
    }

    /// The device `hostPath` itself (not a link's target) is on; a mount point's differs from its parent's.
    public func device(_ hostPath: String) -> UInt64? {
        var st = stat()
        guard lstat(resolve(hostPath), &st) == 0 else { return nil }
        return UInt64(st.st_dev)
    }

    /// What the regular file at `hostPath` (following a link) is now; `nil` when there is none.
    public func identity(_ hostPath: String) -> FileIdentity? {
        var st = stat()
        guard stat(resolve(hostPath), &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return Self.identity(st)
    }

    public static func identity(_ st: stat) -> FileIdentity {
        FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                     modified: Int64(st.st_mtim.tv_sec), modifiedNanoseconds: Int64(st.st_mtim.tv_nsec),
                     changed: Int64(st.st_ctim.tv_sec), changedNanoseconds: Int64(st.st_ctim.tv_nsec))
    }

    /// A file opened without following a link, with what `fstat` said of the open descriptor (so nothing
    /// can be swapped in between the checks and the read).
    public struct OpenedFile: Sendable {
        public enum Kind: Sendable { case regular, symbolicLink, other }
        public var kind: Kind
        public var mode: UInt16
        public var owner: UInt32
        public var size: Int
        /// At most `limit` + 1 bytes (read only for a regular file within the limit).
        public var data: Data?
    }

    /// Opens `hostPath` with `O_NOFOLLOW` and reads it only when it is a regular file of at most
    /// `limit` bytes; `nil` when nothing is there.
    public func openWithoutFollowing(_ hostPath: String, limit: Int) throws -> OpenedFile? {
        let fd: Int32
        do {
            fd = try systemCall(.file, "open \(hostPath)") { open(resolve(hostPath), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        } catch let error as HostError where error.errnoValue == ENOENT {
            return nil
        } catch let error as HostError where error.errnoValue == ELOOP {
            return OpenedFile(kind: .symbolicLink, mode: 0, owner: 0, size: 0, data: nil)
        }
        defer { close(fd) }
        var st = stat()
        try systemCall(.file, "stat \(hostPath)") { fstat(fd, &st) }
        let kind: OpenedFile.Kind = st.st_mode & S_IFMT == S_IFREG ? .regular : .other
        var file = OpenedFile(kind: kind, mode: UInt16(st.st_mode & 0o7777), owner: st.st_uid, size: Int(st.st_size), data: nil)
        guard kind == .regular, file.size <= limit else { return file }
        var data = Data(count: limit + 1)
        var total = 0
        while total <= limit {
            let count = try data.withUnsafeMutableBytes { raw in
                try systemCall(.file, "read \(hostPath)") { Glibc.read(fd, raw.baseAddress! + total, raw.count - total) }
            }
            if count == 0 { break }
            total += count
        }
        file.data = data.prefix(total)
        file.size = max(file.size, total)
        return file
    }

    /// The file's bytes, or `nil` when it does not exist.
    public func read(_ hostPath: String) throws -> Data? {
        let fd: Int32
        do {
            fd = try systemCall(.file, "open \(hostPath)") { open(resolve(hostPath), O_RDONLY | O_CLOEXEC) }
        } catch let error as HostError where error.errnoValue == ENOENT {
            return nil
        }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try buffer.withUnsafeMutableBytes { raw in
                try systemCall(.file, "read \(hostPath)") { Glibc.read(fd, raw.baseAddress, raw.count) }
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return data
    }

    public func readText(_ hostPath: String) throws -> String? {
        try read(hostPath).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Replaces a file atomically: a temporary file in the same directory, written with `mode`,
    /// fsynced, renamed over the target, then the directory fsynced. Readers see old or new, never half.
    /// Many files at once: `writeAtomically(_ files:)`, one flush for all.
    public func writeAtomically(_ hostPath: String, _ data: Data, mode: UInt16) throws {
        let target = resolve(hostPath)
        let temporary = try writeTemporary(hostPath, data, mode: mode, fsync: true)
        do {
            try systemCall(.file, "rename into \(hostPath)") { rename(temporary, target) }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory((target as NSString).deletingLastPathComponent)
    }

    /// Writes `data` with `mode` to a temporary file beside `hostPath` (fsynced if asked) and returns
    /// its path for the caller to rename or unlink; on failure nothing is left.
    private func writeTemporary(_ hostPath: String, _ data: Data, mode: UInt16, fsync flush: Bool) throws -> String {
        removeStaleTemporaries(hostPath)
        let temporary = (resolve(hostPath) as NSString).deletingLastPathComponent + "/" + temporaryPrefix(hostPath) + "\(getpid())"
        let fd = try systemCall(.file, "create \(hostPath)") {
            open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        }
        defer { close(fd) }
        do {
            try systemCall(.file, "set the mode of \(hostPath)") { fchmod(fd, mode_t(mode)) }
            try writeAll(fd, data, hostPath)
            if flush { try systemCall(.file, "fsync \(hostPath)") { fsync(fd) } }
        } catch {
            unlink(temporary)
            throw error
        }
        return temporary
    }

    /// Writes several files, each atomically, with one flush for all of them: every temporary is
    /// written, one syncfs(2) per directory's filesystem makes them durable, then each is renamed into place and
    /// each directory is fsynced once. After a crash each file is as it was or complete, as with
    /// `writeAtomically` one by one, for one flush instead of one fsync per file.
    public func writeAtomically(_ files: [(path: String, data: Data, mode: UInt16)]) throws {
        var written: [(temporary: String, target: String, path: String)] = []
        defer { for file in written { unlink(file.temporary) } }   // left only on failure
        for file in files {
            let temporary = try writeTemporary(file.path, file.data, mode: file.mode, fsync: false)
            written.append((temporary, resolve(file.path), file.path))
        }
        let directories = Array(Set(written.map { ($0.target as NSString).deletingLastPathComponent })).sorted()
        var flushedDevices = Set<dev_t>()
        for directory in directories {
            let fd = try systemCall(.file, "open \(directory)") { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            defer { close(fd) }
            // One syncfs per filesystem: each flushes all of it.
            var st = stat()
            guard fstat(fd, &st) != 0 || flushedDevices.insert(st.st_dev).inserted else { continue }
            try systemCall(.file, "flush the files written under \(directory)") { kubeseed_syncfs(fd) }
        }
        while let file = written.first {
            try systemCall(.file, "rename into \(file.path)") { rename(file.temporary, file.target) }
            written.removeFirst()
        }
        for directory in directories { try syncDirectory(directory) }
    }

    /// Writes `value` and a newline in place, as sysctl(8) does, for kernel files (`/proc/sys`,
    /// `/sys`) that cannot be renamed over.
    public func writeKernelValue(_ hostPath: String, _ value: String) throws {
        let fd = try systemCall(.file, "open \(hostPath) for writing") { open(resolve(hostPath), O_WRONLY | O_TRUNC | O_CLOEXEC) }
        defer { close(fd) }
        try writeAll(fd, Data((value + "\n").utf8), hostPath)
    }

    /// The target of a symbolic link, or `nil` when `hostPath` is not a link.
    public func readLink(_ hostPath: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(resolve(hostPath), &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Points `hostPath` at `target` atomically (a new link renamed over the old entry).
    public func replaceSymlink(_ hostPath: String, target: String) throws {
        let link = resolve(hostPath)
        removeStaleTemporaries(hostPath)
        let temporary = (link as NSString).deletingLastPathComponent + "/" + temporaryPrefix(hostPath) + "\(getpid())"
        try systemCall(.file, "create link \(hostPath)") { symlink(target, temporary) }
        do {
            try systemCall(.file, "rename link into \(hostPath)") { rename(temporary, link) }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory((link as NSString).deletingLastPathComponent)
    }

    /// Creates the link `hostPath` → `target`; fails (EEXIST) when anything is already there.
    /// Makes a link at `hostPath` to `target`; `durable`: its directory fsynced (without: the caller flushes
    /// it, once for many links, with `syncDirectory`).
    public func makeSymlink(_ hostPath: String, target: String, durable: Bool = true) throws {
        try systemCall(.file, "create link \(hostPath)") { symlink(target, resolve(hostPath)) }
        if durable { try syncDirectory((resolve(hostPath) as NSString).deletingLastPathComponent) }
    }

    public func remove(_ hostPath: String) throws {
        removeStaleTemporaries(hostPath)
        do {
            try systemCall(.file, "remove \(hostPath)") { unlink(resolve(hostPath)) }
        } catch let error as HostError where error.errnoValue == ENOENT {
            return
        }
        try syncDirectory((resolve(hostPath) as NSString).deletingLastPathComponent)
    }

    /// Renames `hostPath` to `newPath` (same filesystem; a directory with all it holds) and makes it durable.
    public func move(_ hostPath: String, to newPath: String) throws {
        try systemCall(.file, "move \(hostPath) to \(newPath)") { rename(resolve(hostPath), resolve(newPath)) }
        try syncDirectory((resolve(newPath) as NSString).deletingLastPathComponent)
    }

    /// Removes `hostPath` and everything under it (nothing when it is not there).
    public func removeTree(_ hostPath: String) throws {
        guard exists(hostPath) || readLink(hostPath) != nil else { return }
        do { try FileManager.default.removeItem(atPath: resolve(hostPath)) } catch {
            throw HostError(.file, "cannot remove \(hostPath)", cause: "\(error)")
        }
    }

    public func makeDirectory(_ hostPath: String, mode: UInt16) throws {
        try systemCall(.file, "create directory \(hostPath)") { mkdir(resolve(hostPath), mode_t(mode)) }
        // mkdir's mode is filtered by the umask; set it exactly.
        try systemCall(.file, "set the mode of \(hostPath)") { chmod(resolve(hostPath), mode_t(mode)) }
    }

    /// Removes an empty directory; a directory that is not empty is kept (returns `false`).
    @discardableResult
    public func removeDirectoryIfEmpty(_ hostPath: String) throws -> Bool {
        do {
            try systemCall(.file, "remove directory \(hostPath)") { rmdir(resolve(hostPath)) }
            return true
        } catch let error as HostError where [ENOTEMPTY, EEXIST, ENOENT].contains(error.errnoValue ?? 0) {
            return false
        }
    }

    /// Names in a directory (empty when it does not exist).
    public func list(_ hostPath: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: resolve(hostPath))) ?? []
    }

    private func temporaryPrefix(_ hostPath: String) -> String {
        ".\((hostPath as NSString).lastPathComponent).kubeseed-"
    }

    /// A process killed between creating its temporary file and renaming it leaves the temporary
    /// behind; the next write of the same file (under the agent lock) clears it.
    private func removeStaleTemporaries(_ hostPath: String) {
        let directory = (hostPath as NSString).deletingLastPathComponent
        let prefix = temporaryPrefix(hostPath)
        for name in list(directory) where name.hasPrefix(prefix) {
            unlink(resolve(directory + "/" + name))
        }
    }

    func writeAll(_ fd: Int32, _ data: Data, _ hostPath: String) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                offset += try systemCall(.file, "write \(hostPath)") { write(fd, raw.baseAddress! + offset, raw.count - offset) }
            }
        }
    }

    /// Renames host path `from` to `to` unless something is at `to` (then `EEXIST`), without a moment where
    /// neither or both exist: `renameat2(RENAME_NOREPLACE)`, or a hard link and unlink on a filesystem
    /// without it. Neither way works across filesystems.
    public func moveWithoutReplacing(_ from: String, to: String) throws {
        do {
            try systemCall(.file, "move \(from) to \(to)") { kubeseed_rename_noreplace(resolve(from), resolve(to)) }
        } catch let error as HostError where error.errnoValue == EINVAL || error.errnoValue == ENOSYS {
            try systemCall(.file, "move \(from) to \(to)") { link(resolve(from), resolve(to)) }
            unlink(resolve(from))
        }
    }

    /// Makes a rename or unlink in `directory` durable; a failure is reported, never ignored (the change
    /// might not survive a power cut).
    /// `directory`: a resolved path (`resolve`).
    func syncDirectory(_ directory: String) throws {
        let fd = try systemCall(.file, "open \(directory) to flush it") { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try systemCall(.file, "flush directory \(directory)") { fsync(fd) }
    }
}
