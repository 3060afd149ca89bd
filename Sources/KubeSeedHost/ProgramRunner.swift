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

    /// Runs `path` with `arguments` (the path as given: a host path, not under a test root).
    public static func run(_ path: String, _ arguments: [String], timeout: Duration) throws -> Result {
        guard access(path, X_OK) == 0 else {
            throw HostError(.program, "\(path) is not there or not executable", cause: "install it, or check the path")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw HostError(.program, "could not start \(path)", cause: "\(error)")
        }
        let deadline = ContinuousClock.now + timeout
        let reader = pipe.fileHandleForReading
        var output = Data()
        // Read until end of file (the program and its children closed the pipe) or the deadline.
        let fd = reader.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let left = deadline - ContinuousClock.now
            if left <= .zero {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                throw HostError(.program, "\(path) \(arguments.first ?? "") ran past \(timeout)",
                                cause: "killed; output so far: \(Validate.printable(String(decoding: output.prefix(400), as: UTF8.self)))")
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(1000, max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            let ready = poll(&poller, 1, milliseconds)
            if ready <= 0 { continue }
            // errno through the one helper: EINTR is read again, any other failure is an error, not an end of output.
            let count = try buffer.withUnsafeMutableBytes { raw in
                try systemCall(.program, "read the output of \(path)") { Glibc.read(fd, raw.baseAddress, raw.count) }
            }
            if count == 0 { break }
            if output.count < maximumOutput { output.append(contentsOf: buffer[0..<min(count, maximumOutput - output.count)]) }
        }
        // The output is closed; the program may still be running (it closed its output early).
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw HostError(.program, "\(path) \(arguments.first ?? "") ran past \(timeout)", cause: "killed after it closed its output")
        }
        return Result(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self))
    }
}
