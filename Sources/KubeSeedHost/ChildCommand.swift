import Foundation
import Glibc
import KubeSeedCore

/// Runs this same binary as a child (`posix_spawn` of `/proc/self/exe`, its output read to the end,
/// `waitpid`), without Foundation's `Process`, whose child watching starts the thread pool the idle agent
/// must never start: work that needs that pool (HTTPS) runs in the child and goes away with it.
public enum ChildCommand {
    public struct Result: Sendable {
        public var status: Int32
        /// Standard output and standard error together, cut at `ProgramRunner.maximumOutput` bytes.
        public var output: String
    }

    /// Runs `executable` (this binary by default) with `arguments` (`arguments[0]` the name it is called by).
    public static func run(_ arguments: [String], executable: String = "/proc/self/exe") throws -> Result {
        var fds: [Int32] = [0, 0]
        _ = try systemCall(.program, "make a pipe") { pipe(&fds) }
        // Not inherited by other children: the child gets the write end as its output only.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, &argv, environ)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw HostError.errno(.program, "start \(arguments.joined(separator: " "))", spawned)
        }
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = try buffer.withUnsafeMutableBytes { raw in
                try systemCall(.program, "read the output of \(arguments.first ?? "")") { read(fds[0], raw.baseAddress, raw.count) }
            }
            if count == 0 { break }
            if output.count < ProgramRunner.maximumOutput { output.append(contentsOf: buffer[0..<min(count, ProgramRunner.maximumOutput - output.count)]) }
        }
        close(fds[0])
        var status: Int32 = 0
        _ = try systemCall(.program, "wait for \(arguments.first ?? "")") { waitpid(pid, &status, 0) }
        // WIFEXITED / WEXITSTATUS, which Glibc's module does not export as functions.
        let exitCode = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exitCode, output: String(decoding: output, as: UTF8.self))
    }
}
