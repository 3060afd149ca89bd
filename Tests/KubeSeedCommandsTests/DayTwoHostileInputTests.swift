import ArgumentParser
import Foundation
import Glibc
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// What an attacker or a careless operator gives the day-2 commands (control characters, spaces, `%`,
/// a leading dash, huge values), after `seed init` on a temporary root with `FakeCluster` and the
/// recording systemd fake: each is refused or handled with a clear message, exit non-zero, nothing on the
/// host changed, and no control character reaches the output.
@Suite struct DayTwoHostileInputTests {
    let paths = MasterSuccessPathTests()
    static let hostile = ["w\u{1b}[2J", "worker-1\nseed: done", "worker 1", "worker%s%n", "-rf", String(repeating: "a", count: 100_000), "Worker_1", "wörker", ""]

    func initialized() async throws -> (TemporaryHost, MasterOperations, MasterSuccessPathTests.Output) {
        try await paths.initializedMaster()
    }

    @Test(arguments: hostile)
    func nodeRemoveRefusesAnythingButANodeName(_ name: String) async throws {
        let (host, master, output) = try await initialized()
        let before = try host.snapshot(withTimes: true)
        #expect(await master.removeNode(name) == 2, "\(output.text)")
        #expect(output.text.contains("is not a node name"), "\(output.text)")
        #expect(!output.text.contains("\u{1b}") && !output.text.contains("\nseed: done") && output.text.count < 2000, "\(output.text.prefix(300))")
        #expect(host.services.calls.isEmpty)
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test(arguments: hostile)
    func renewRefusesAnythingButALeafName(_ name: String) async throws {
        let (host, master, output) = try await initialized()
        let before = try host.snapshot(withTimes: true)
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: [name], all: false, dueWithinDays: nil) == 2)
        #expect(output.text.contains("nothing changed"), "\(output.text)")
        #expect(!output.text.contains("\u{1b}") && !output.text.contains("\nseed: done") && output.text.count < 2000, "\(output.text.prefix(300))")
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test(arguments: ["/tmp/a\u{1b}[2J.db", "/tmp/x\nseed etcd restore: done", "/tmp/\u{85}.db", "relative.db", "/", "/etc", "/no/such file %s.db", "-rf"])
    func restoreRefusesOddFilesBeforeAnythingStops(_ file: String) async throws {
        let (host, master, output) = try await initialized()
        let before = try host.snapshot(withTimes: true)
        #expect(await master.restoreSnapshot(file, etcdctl: "/bin/true") == 2, "\(output.text)")
        #expect(output.text.hasPrefix("seed etcd restore: nothing changed: "), "\(output.text)")
        #expect(Validate.printable(output.text.replacingOccurrences(of: "\n", with: "")) == output.text.replacingOccurrences(of: "\n", with: ""),
                "a control character reached the output: \(output.text.debugDescription)")
        #expect(output.text.filter { $0 == "\n" }.count == 1, "the message forged a line: \(output.text.debugDescription)")
        #expect(host.services.calls.isEmpty)
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test(arguments: ["/tmp/a\u{1b}[2J.db", "/tmp/x\nseed etcd snapshot save: done", "", "dir/", "/a\u{0}b"])
    func snapshotSaveRefusesOddFileNames(_ file: String) async throws {
        let (host, master, output) = try await initialized()
        let before = try host.snapshot(withTimes: true)
        #expect(await master.saveSnapshot(file: file, keep: nil) == 2, "\(output.text)")
        #expect(output.text.filter { $0 == "\n" }.count == 1 && !output.text.contains("\u{1b}"), "\(output.text.debugDescription)")
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test func aSnapshotNameWithSpacesAndPercentIsTakenLiterallyAndAFailedSaveLeavesNothing() async throws {
        let (host, master, output) = try await initialized()
        let file = "/srv/snap shots/%s %n.db"
        try FileManager.default.createDirectory(atPath: host.root.resolve("/srv/snap shots"), withIntermediateDirectories: true)
        // The fake etcd has no maintenance API: the stream fails after the file was begun.
        #expect(await master.saveSnapshot(file: file, keep: nil) == 1, "\(output.text)")
        #expect(output.text.contains("failed, nothing kept") && output.text.contains("answered 404"), "\(output.text)")
        #expect(host.root.list("/srv/snap shots").isEmpty, "\(host.root.list("/srv/snap shots"))")
    }

    /// `seed upgrade apply`'s own refusals, through its command line on the initialized master's root: an
    /// archive path with a control character, not a regular file (a directory, a FIFO that would block an
    /// open, a missing or relative path with spaces and `%`, empty, huge), a bad `--sha256` or `--api-timeout`:
    /// each exit 2, before anything runs (no systemd call) and with the host unchanged.
    @Test(arguments: [
        ["--server-archive", "/srv/a\u{1b}[2J.tar.gz"], ["--server-archive", "/srv/x\nseed upgrade apply: done"], ["--server-archive", "/srv/\u{85}.tar.gz"],
        ["--server-archive", "/"], ["--server-archive", "/etc"], ["--server-archive", "/run/fifo"], ["--server-archive", "no such %s %n.tar.gz"],
        ["--server-archive=-rf"], ["--server-archive", "/" + String(repeating: "a", count: 100_000)],
        ["--server-archive", "/srv/archive.tar.gz", "--sha256", "%s%n"], ["--server-archive", "/srv/archive.tar.gz", "--sha256", String(repeating: "g", count: 64)],
        ["--server-archive", "/srv/archive.tar.gz", "--api-timeout", "0"], ["--server-archive", "/srv/archive.tar.gz", "--api-timeout", "99999999"],
    ])
    func upgradeApplyRefusesOddArchivesAndOptionsBeforeAnything(_ arguments: [String]) async throws {
        let (host, _, _) = try await initialized()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/srv"), withIntermediateDirectories: true)
        // Under /run, which the host snapshot leaves out (reading a FIFO would block it too).
        #expect(mkfifo(host.root.resolve("/run/fifo"), 0o600) == 0)
        try TemporaryHost.write(host.root, "/srv/archive.tar.gz", "not an archive")
        let before = try host.snapshot(withTimes: true)
        var command = try Upgrade.Apply.parse(arguments + ["--root", host.root.path])
        await #expect(throws: ExitCode(2)) { try await command.run() }
        #expect(host.services.calls.isEmpty)
        #expect(try host.snapshot(withTimes: true) == before)
    }

    /// `--api-timeout` out of 10…3600 on the other day-2 commands that wait for an API server: exit 2 before
    /// anything runs (renew on the master's root; restore and rejoin act on this host's root, so they are only
    /// parsed here: their check is in `validate`, which parsing runs).
    @Test(arguments: ["0", "9", "3601", "99999999", "-5"])
    func theDayTwoWaitsRefuseATimeoutOutOfRange(_ seconds: String) async throws {
        let (host, _, _) = try await initialized()
        let before = try host.snapshot(withTimes: true)
        var renew = try CertsRenew.parse(["--all", "--api-timeout=\(seconds)", "--root", host.root.path])
        await #expect(throws: ExitCode(2)) { try await renew.run() }
        func exitCode<C: ParsableCommand>(_ command: C.Type, _ arguments: [String]) -> ExitCode? {
            do { _ = try C.parse(arguments); return nil } catch { return C.exitCode(for: error) }
        }
        #expect(exitCode(EtcdRestoreCommand.self, ["/srv/snapshot.db", "--api-timeout=\(seconds)"]) == ExitCode(2))
        #expect(exitCode(EtcdRejoinCommand.self, ["--api-timeout=\(seconds)"]) == ExitCode(2))
        #expect(host.services.calls.isEmpty)
        #expect(try host.snapshot(withTimes: true) == before)
        // In range, both parse.
        _ = try EtcdRestoreCommand.parse(["/srv/snapshot.db", "--api-timeout=10"])
        _ = try EtcdRejoinCommand.parse(["--api-timeout=3600", "--same-cluster"])
    }

    /// An empty archive path never reaches the command: the argument parser refuses it as a missing value.
    @Test func upgradeApplyWithAnEmptyArchiveIsAUsageError() {
        #expect(throws: (any Error).self) { try Upgrade.Apply.parse(["--server-archive="]) }
    }
}
