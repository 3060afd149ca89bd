import Foundation
import Glibc
import KubeSeedCore

/// Runs a program KubeSeed relies on but cannot link (containerd's `ctr`, a Kubernetes binary's
/// `--version`): a clean environment, no standard input, its output captured up to a bound, and
/// killed when it runs past its time.
public enum ProgramRunner {
    public struct Result: Sendable {
        public var status: Int32
        /// Standard output and standard error together, cut at `maximumOutput` bytes.
        public var output: String
    }

    public static let maximumOutput = 256 * 1024

    /// Runs `path` with `arguments` (the path as given: a host path, not under a test root); `name` is the
    /// name it is called by (`argv[0]`), the path's by default.
    ///
    /// Spawned with `posix_spawn` and reaped with `waitpid` on this thread: Foundation's `Process` watches
    /// its children from a thread pool that, once started, wakes the process every second for as long as it
    /// lives, and the node agent runs programs in its passes.
    public static func run(_ path: String, _ arguments: [String], name: String? = nil, timeout: Duration) throws -> Result {
        guard access(path, X_OK) == 0 else {
            throw HostError(.program, "\(path) is not there or not executable", cause: "install it, or check the path")
        }
        var fds: [Int32] = [0, 0]
        _ = try systemCall(.program, "make a pipe for \(path)") { pipe(&fds) }
        // Neither end leaks into another child; the program gets the write end as its output only.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([name ?? path] + arguments).map { (argument: String) in strdup(argument) } + [nil]
        let environment: [UnsafeMutablePointer<CChar>?] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"].map { (variable: String) in strdup(variable) } + [nil]
        defer { for pointer in argv + environment { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environment)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw HostError(.program, "could not start \(path)", cause: "\(String(cString: strerror(spawned))) (errno \(spawned))")
        }
        defer { close(fds[0]) }
        let deadline = ContinuousClock.now + timeout
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 16384)
        // Read until end of file (the program and its children closed the pipe) or the deadline.
        while true {
            let left = deadline - ContinuousClock.now
            if left <= .zero {
                kill(pid, SIGKILL)
                _ = try? wait(pid)
                throw HostError(.program, "\(path) \(arguments.first ?? "") ran past \(timeout)",
                                cause: "killed; output so far: \(Validate.printable(String(decoding: output.prefix(400), as: UTF8.self)))")
            }
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(1000, max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            let ready = poll(&poller, 1, milliseconds)
            if ready <= 0 { continue }
            // errno through the one helper: EINTR is read again, any other failure is an error, not an end of output.
            let count = try buffer.withUnsafeMutableBytes { raw in
                try systemCall(.program, "read the output of \(path)") { Glibc.read(fds[0], raw.baseAddress, raw.count) }
            }
            if count == 0 { break }
            if output.count < maximumOutput { output.append(contentsOf: buffer[0..<min(count, maximumOutput - output.count)]) }
        }
        // The output is closed; the program may still be running (it closed its output early).
        while ContinuousClock.now < deadline {
            if let status = try wait(pid, blocking: false) { return Result(status: status, output: String(decoding: output, as: UTF8.self)) }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        _ = try? wait(pid)
        throw HostError(.program, "\(path) \(arguments.first ?? "") ran past \(timeout)", cause: "killed after it closed its output")
    }

    /// Reaps `pid`: its exit status, or 128 + the signal that ended it; `nil` when it still runs (not blocking).
    private static func wait(_ pid: pid_t, blocking: Bool = true) throws -> Int32? {
        var status: Int32 = 0
        let reaped = try systemCall(.program, "wait for process \(pid)") { waitpid(pid, &status, blocking ? 0 : WNOHANG) }
        guard reaped == pid else { return nil }
        // WIFEXITED / WEXITSTATUS, which Glibc's module does not export as functions.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
