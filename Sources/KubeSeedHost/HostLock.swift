import Foundation
import Glibc

/// An exclusive lock so two KubeSeed commands never change the host at once (held until the process exits).
public enum HostLock {
    public static let defaultPath = "/run/kubeseed/agent.lock"

    /// Takes the lock without waiting. Throws `.busy` only when another process holds it; any other
    /// failure (a read-only /run, no such directory) is reported as itself.
    public static func acquire(_ root: HostRoot, path: String = defaultPath) throws -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        if !root.isDirectory(directory) { try root.makeDirectory(directory, mode: 0o755) }
        let fd = try systemCall(.file, "open \(path)") { open(root.resolve(path), O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        do {
            try systemCall(.file, "lock \(path)") { flock(fd, LOCK_EX | LOCK_NB) }
        } catch let error as HostError where error.errnoValue == EWOULDBLOCK {
            close(fd)
            throw HostError(.busy, "another KubeSeed command (seed or seed-agent) is changing this host (lock \(path) is held)")
        } catch {
            close(fd)
            throw error
        }
        return fd
    }
}
