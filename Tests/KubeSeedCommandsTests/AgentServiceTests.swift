import Foundation
import Glibc
import Synchronization
import KubeSeedCore
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The agent's service loop against a temporary root (real inotify and files; kmod, swap and D-Bus the
/// recording fakes of Fakes.swift; systemd's notification socket a recorder).
@Suite struct AgentServiceTests {
    final class Recorder: @unchecked Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    func service(_ host: TemporaryHost, notes: Recorder, output: Recorder) -> AgentService {
        let service = AgentService(operations: AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0),
                                   joinPath: JoinFile.defaultPath)
        service.notify = { notes.append($0) }
        service.write = { output.append($0) }
        service.discoveryInterval = .seconds(2)
        // The live one runs this binary as a child: here that would be the test runner.
        service.refreshAPIServers = { _ in (false, "API servers: not asked in this test") }
        return service
    }

    @Test func withoutAJoinFileItWaitsAndTheFilesArrivalMakesItReadyOnce() async throws {
        let host = try TemporaryHost()
        let notes = Recorder(), output = Recorder()
        let service = service(host, notes: notes, output: output)
        let running = Task { try await service.run(passes: 2) }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while !notes.all.contains(where: { $0.hasPrefix("STATUS=not ready") }) && clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(notes.all.first == "STATUS=converging from /etc/kubeseed/join.yaml")
        #expect(notes.all.contains { $0.hasPrefix("STATUS=not ready: join file:") }, "\(notes.all)")
        #expect(!notes.all.contains("READY=1"))
        #expect(try host.root.readText(NodePaths.containerdConfig) == nil, "a pass without a join file changes nothing")
        // Put in place as `install -m 600` does: written aside with its mode, then renamed.
        try TemporaryHost.write(host.root, "/etc/kubeseed/.join.yaml.new", ConvergeTests().joinText())
        chmod(host.root.resolve("/etc/kubeseed/.join.yaml.new"), 0o600)
        rename(host.root.resolve("/etc/kubeseed/.join.yaml.new"), host.root.resolve(JoinFile.defaultPath))
        #expect(try await running.value == .passesDone)
        #expect(notes.all.filter { $0 == "READY=1" }.count == 1, "\(notes.all)")
        let last = Array(notes.all.suffix(3))
        #expect(last.count == 3 && last[0].hasPrefix("STATUS=converging") && last[1].hasPrefix("STATUS=ready: ") && last[2] == "READY=1", "\(notes.all)")
        let status = try #require(try host.root.readText(AgentStatus.defaultPath))
        #expect(status.contains("ready"), "\(status)")
        #expect(host.root.mode(AgentStatus.defaultPath) == AgentStatus.fileMode)
        #expect(output.all.last?.contains("seed-agent: ready: ") == true, "\(output.all)")
    }

    /// Another KubeSeed command holding the host (`seed upgrade apply` for minutes): the agent waits for it to
    /// let go and passes again, instead of exiting for systemd to restart it (each start fails while it holds).
    @Test func aHeldHostIsWaitedForNotRestartedFor() async throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, JoinFile.defaultPath, ConvergeTests().joinText())
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
        let held = try HostLock.acquire(host.root)
        let notes = Recorder(), output = Recorder()
        let service = service(host, notes: notes, output: output)
        let releaser = Thread {
            while !output.all.contains(where: { $0.contains("waiting for the other KubeSeed command") }) { usleep(50_000) }
            held.release()
        }
        releaser.start()
        #expect(try await service.run(passes: 2) == .passesDone, "\(output.all)")
        #expect(notes.all.contains { $0.hasPrefix("STATUS=not ready: lock:") }, "\(notes.all)")
        #expect(notes.all.last == "READY=1", "\(notes.all)")
    }

    @Test func oncePassesOneTimeAndSaysWhetherTheNodeIsReady() async throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, JoinFile.defaultPath, ConvergeTests().joinText())
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
        let notes = Recorder(), output = Recorder()
        #expect(try await service(host, notes: notes, output: output).run(once: true) == .once(ready: true))
        #expect(notes.all.filter { $0 == "READY=1" }.count == 1)
        // Without a join file: one pass, not ready, nothing changed.
        let bare = try TemporaryHost()
        let before = try bare.snapshot()
        #expect(try await service(bare, notes: Recorder(), output: Recorder()).run(once: true) == .once(ready: false))
        #expect(try bare.snapshot() == before, "only the status file under /run changes")
    }
}
