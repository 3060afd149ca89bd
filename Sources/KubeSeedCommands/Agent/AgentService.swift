import Foundation
import KubeSeedCore
import KubeSeedHost

/// The node agent as a service (`seed-agent run`, seed-agent.service): a pass over the join file, its
/// result reported (log line, status file, systemd's STATUS=, READY=1 once ready), then a sleep in the
/// kernel (inotify) until the join file, the binaries or the image archives change, waking every
/// `APIServerDiscovery.interval` to ask which API servers there are. Apart from the command line so
/// that tests run it against a temporary root.
public final class AgentService {
    /// Why `run` returned.
    public enum Ending: Equatable, Sendable {
        /// `once`: one pass, ready or not.
        case once(ready: Bool)
        /// A pass failed in a way a fresh start may mend: exit non-zero and let systemd restart the agent
        /// (Restart=on-failure). A bad join file is not one: the agent waits for an edit instead.
        case restartWanted
        /// `passes` passes were made (tests).
        case passesDone
    }

    public let operations: AgentOperations
    /// The join file, absolute (the watcher compares absolute paths).
    public let joinPath: String
    /// Where each pass's output goes.
    public var write: (String) -> Void = say
    /// systemd's notification socket (`STATUS=…`, `READY=1`).
    public var notify: (String) -> Void = ServiceNotifier.notify
    /// How often the API servers are asked for while nothing changes.
    public var discoveryInterval: Duration = APIServerDiscovery.interval
    /// Asks which API servers there are and keeps the list: `seed-agent refresh-api-servers` in a child
    /// process, so that the HTTPS client's threads (and the pool they start) never live in the idle agent.
    public var refreshAPIServers: (_ joinPath: String) -> (changed: Bool, message: String) = { joinPath in
        do {
            let child = try ProgramRunner.run("/proc/self/exe", ["refresh-api-servers", "--join", joinPath], name: "seed-agent", timeout: .seconds(120))
            return (child.status == 0, child.output.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            return (false, "API servers: \(error)")
        }
    }
    private var notifiedReady = false
    /// Before each sleep: the executable's clean pages leave the resident set (`IdlePages`).
    var releaseIdlePages: () -> Void = { IdlePages.releaseExecutablePages() }

    public init(operations: AgentOperations, joinPath: String) {
        self.operations = operations
        self.joinPath = joinPath
    }

    /// Passes until one asks for a restart; `once`: one pass; `passes`: at most that many (tests).
    public func run(once: Bool = false, passes: Int? = nil) async throws -> Ending {
        let root = operations.root
        let watcher = try DirectoryWatcher()
        try watcher.watch(root.resolve((joinPath as NSString).deletingLastPathComponent))
        var watched: Set<String> = []
        var made = 0
        while true {
            let pass = await self.pass()
            made += 1
            if once { return .once(ready: pass.status.ready) }
            // `seed init`, `seed upgrade apply`…: passing again once it lets go beats systemd's restarts, which
            // fail every 10 s while it runs.
            if pass.lockHeld {
                write("seed-agent: waiting for the other KubeSeed command to finish\n")
                try HostLock.waitUntilFree(root, path: operations.location.lockPath)
                continue
            }
            if !pass.status.ready && pass.retryable { return .restartWanted }
            if let passes, made >= passes { return .passesDone }
            for directory in [NodePaths.binDir, ImageArchives.directory] where !watched.contains(directory) && root.isDirectory(directory) {
                try watcher.watch(root.resolve(directory))
                watched.insert(directory)
            }
            try await waitForChange(watcher)
        }
    }

    /// One pass, reported. Unbuffered writes: the journal reads stdout through a pipe.
    func pass() async -> AgentOperations.Convergence {
        notify("STATUS=converging from \(Validate.printable(joinPath))")
        let pass = await operations.converge(joinPath: joinPath)
        write(pass.output + "seed-agent: \(pass.status.ready ? "ready" : "not ready"): \(pass.status.summary) (\(pass.changes) changes)\n")
        do { try operations.writeStatus(pass.status) } catch { write("seed-agent: could not write the status file: \(error)\n") }
        // One line: a value that slipped a newline into the summary must not add READY=1 or anything else.
        notify("STATUS=\(pass.status.ready ? "ready" : "not ready"): \(Validate.printable(pass.status.summary))")
        if pass.status.ready && !notifiedReady {
            notify("READY=1")
            notifiedReady = true
        }
        return pass
    }

    /// Sleeps until the join file, the binaries directory or the images directory changes; each time the
    /// interval passes with no change, asks which API servers there are, and returns when that list changed.
    func waitForChange(_ watcher: DirectoryWatcher) async throws {
        let root = operations.root
        let join = root.resolve(joinPath)
        let prefixes = [NodePaths.binDir, ImageArchives.directory].map { root.resolve($0) + "/" }
        while true {
            releaseIdlePages()
            let changed = try watcher.next(timeout: discoveryInterval)
            if changed.isEmpty {
                let refresh = refreshAPIServers(joinPath)
                if refresh.changed { write("seed-agent: \(refresh.message)\n"); return }
                continue
            }
            if changed.contains(where: { path in path == join || prefixes.contains { path.hasPrefix($0) } }) { return }
        }
    }
}
