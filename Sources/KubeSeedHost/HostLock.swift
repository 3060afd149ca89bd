import Foundation
import Glibc
import Synchronization

/// The exclusive lock that keeps two KubeSeed commands from changing the host at once. It is held until
/// `release()` or until the lock is dropped. Commands take it through `HostSession`; nothing else does.
public final class HostLock: Sendable {
    public static let defaultPath = "/run/kubeseed/agent.lock"

    /// The lock file.
    public let path: String
    private let descriptor: Mutex<Int32>

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// Lets the lock go. A second call does nothing.
    public func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    /// Waits, asleep in the kernel, until no KubeSeed command holds the lock, without keeping it (the
    /// agent, after a pass found the host busy, passes again then).
    public static func waitUntilFree(_ root: HostRoot, path: String = defaultPath) throws {
        guard root.exists(path) else { return }
        let fd = try systemCall(.file, "open \(path)") { open(root.resolve(path), O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        try systemCall(.file, "wait for \(path)") { flock(fd, LOCK_SH) }
        _ = flock(fd, LOCK_UN)
    }

    /// Takes the lock, waiting up to `waiting` for another KubeSeed command to finish (an agent's pass
    /// after `seed init` wrote the master's join file). Throws `.busy` only when another process still
    /// holds it then; any other failure (a read-only /run, no such directory) is reported as itself.
    public static func acquire(_ root: HostRoot, path: String = defaultPath, waiting: Duration = .zero) throws -> HostLock {
        let directory = (path as NSString).deletingLastPathComponent
        if !root.isDirectory(directory) { try root.makeDirectory(directory, mode: 0o755) }
        let fd = try systemCall(.file, "open \(path)") { open(root.resolve(path), O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        let clock = ContinuousClock()
        let deadline = clock.now + waiting
        while true {
            do {
                try systemCall(.file, "lock \(path)") { flock(fd, LOCK_EX | LOCK_NB) }
                return HostLock(path: path, descriptor: fd)
            } catch let error as HostError where error.errnoValue == EWOULDBLOCK {
                if clock.now < deadline {
                    usleep(200_000)
                    continue
                }
                close(fd)
                throw HostError(.busy, "another KubeSeed command (seed or seed-agent) is changing this host (lock \(path) is held)")
            } catch {
                close(fd)
                throw error
            }
        }
    }
}
