import Crypto
import Foundation
import Glibc

/// One wanted member being written beside its target in `binDir`, hashed as it is written.
///
/// Where the filesystem allows, the file has no name (`O_TMPFILE`) until it is installed: if the
/// process is killed or the machine loses power mid-extraction, the kernel frees it and nothing is
/// left in `binDir`. Elsewhere (a filesystem without `O_TMPFILE`, no `/proc`) it is a dot file
/// (`.kubelet.kubeseed-<pid>`), unlinked on failure and swept by the next install after a crash.
final class ArchiveTemporary {
    let root: HostRoot
    /// The binary's name (`kubelet`).
    let name: String
    /// Host path of the installed binary (`/opt/k8s/bin/kubelet`).
    let target: String
    private(set) var fd: Int32
    /// Host path of the named temporary; `nil` while the file has no name in its directory (`O_TMPFILE`).
    private(set) var namedPath: String?
    private var hasher = SHA256()
    /// Bytes written so far.
    private(set) var bytes = 0
    /// SHA-256 of what was written, once `finish()` ran.
    private(set) var digest: SHA256.Digest?

    /// `O_TMPFILE` (Linux 3.11): Glibc's Swift module is built without `_GNU_SOURCE`, which hides
    /// it; the kernel's value is `__O_TMPFILE | O_DIRECTORY` with `__O_TMPFILE` 020000000 on x86-64 and arm64.
    private static let openUnnamed: Int32 = 0o20000000 | O_DIRECTORY

    /// The dot-name prefix of `name`'s temporaries in its directory.
    static func temporaryPrefix(_ name: String) -> String { ".\(name).kubeseed-" }

    /// Creates an empty temporary for `name` in `directory` (a host path); `unnamed: false` forces a
    /// dot file (tests of the fallback).
    init(root: HostRoot, directory: String, name: String, unnamed: Bool = true) throws {
        self.root = root
        self.name = name
        self.target = "\(directory)/\(name)"
        let named = "\(directory)/\(Self.temporaryPrefix(name))\(getpid())"
        // Linking an unnamed file into place goes through /proc/self/fd (linkat with AT_EMPTY_PATH
        // would need CAP_DAC_READ_SEARCH); without /proc there is no way to give it a name.
        if unnamed && access("/proc/self/fd", X_OK) == 0 {
            let fd = open(root.resolve(directory), Self.openUnnamed | O_WRONLY | O_CLOEXEC, 0o600)
            if fd >= 0 {
                self.fd = fd
                return
            }
            let error = errno
            // EOPNOTSUPP: the filesystem has no O_TMPFILE (overlayfs before Linux 6.6, NFS); EISDIR:
            // a kernel older than 3.11, which ignores the flag. Anything else is a real failure.
            guard error == EOPNOTSUPP || error == EISDIR || error == EINVAL else {
                throw HostError.errno(.file, "create a temporary file in \(directory) for \(name)", error)
            }
        }
        unlink(root.resolve(named))
        self.fd = try systemCall(.file, "create \(named)") {
            open(root.resolve(named), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        }
        self.namedPath = named
    }

    /// Appends `chunk` to the file and to its hash.
    func write(_ chunk: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: chunk)
        var offset = 0
        while offset < chunk.count {
            offset += try systemCall(.file, "write the temporary copy of \(target)") {
                Glibc.write(fd, chunk.baseAddress! + offset, chunk.count - offset)
            }
        }
        bytes += chunk.count
    }

    /// Makes the content durable and fixes its digest.
    func finish() throws {
        try systemCall(.file, "fsync the temporary copy of \(target)") { fsync(fd) }
        digest = hasher.finalize()
    }

    /// Empties the file for a member that appears again later in the archive (tar's last one wins).
    func restart() throws {
        try systemCall(.file, "truncate the temporary copy of \(target)") { ftruncate(fd, 0) }
        try systemCall(.file, "rewind the temporary copy of \(target)") { lseek(fd, 0, SEEK_SET) }
        hasher = SHA256()
        bytes = 0
        digest = nil
    }

    /// Gives the file its dot name (mode 0755: it is run as nobody) and closes it, so it can be run before it is installed
    /// (a file still open for writing cannot be executed: ETXTBSY). Returns the host path to run.
    func closeForRunning() throws -> String {
        if fd >= 0 {
            try systemCall(.file, "set the mode of the temporary copy of \(target)") { fchmod(fd, 0o755) }
            try giveName()
            close(fd)
            fd = -1
        }
        return namedPath!
    }

    private func giveName() throws {
        let named = "\((target as NSString).deletingLastPathComponent)/\(Self.temporaryPrefix(name))\(getpid())"
        if namedPath == nil {
            unlink(root.resolve(named))
            try systemCall(.file, "give the temporary copy of \(target) a name") {
                linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, root.resolve(named), AT_SYMLINK_FOLLOW)
            }
            namedPath = named
        }
    }

    /// Moves the file over `target` with mode 0755, atomically: readers see the old binary or the
    /// new one. The directory is not flushed here (the caller does once for all).
    func install() throws {
        if fd >= 0 {
            try systemCall(.file, "set the mode of \(target)") { fchmod(fd, 0o755) }
        } else if let namedPath {
            try systemCall(.file, "set the mode of \(target)") { chmod(root.resolve(namedPath), 0o755) }
        }
        try giveName()
        let named = namedPath!
        try systemCall(.file, "move \(name) into \((target as NSString).deletingLastPathComponent)") {
            rename(root.resolve(named), root.resolve(target))
        }
        namedPath = nil
    }

    /// Closes the file and removes its name if it has one; an unnamed file is freed by the close.
    func discard() {
        if let namedPath { unlink(root.resolve(namedPath)) }
        namedPath = nil
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { discard() }
}
