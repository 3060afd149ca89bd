import Foundation
import Glibc
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// Real HostRoot code against a temporary directory.
@Suite struct HostRootTests {
    @Test func atomicWriteSetsModeAndLeavesNoTemporaryFile() throws {
        let host = try TemporaryHost()
        try host.root.writeAtomically("/etc/secret", Data("a".utf8), mode: 0o600)
        try host.root.writeAtomically("/etc/secret", Data("b".utf8), mode: 0o600)
        #expect(try host.root.readText("/etc/secret") == "b")
        #expect(host.root.mode("/etc/secret") == 0o600)
        #expect(host.root.list("/etc").filter { $0.contains("kubeseed-") }.isEmpty)
        #expect(try host.root.read("/etc/absent") == nil)
    }

    @Test func batchWriteSetsEveryFileAndModeAndLeavesNoTemporaries() throws {
        let host = try TemporaryHost()
        try host.root.makeDirectory("/etc/kubernetes", mode: 0o755)
        try host.root.writeAtomically([("/etc/kubernetes/a-key.pem", Data("k".utf8), 0o600), ("/etc/kubernetes/a.pem", Data("c".utf8), 0o644),
                                       ("/etc/other.conf", Data("o".utf8), 0o644)].map { (path: $0.0, data: $0.1, mode: UInt16($0.2)) })
        #expect(try host.root.readText("/etc/kubernetes/a-key.pem") == "k")
        #expect(host.root.mode("/etc/kubernetes/a-key.pem") == 0o600)
        #expect(host.root.mode("/etc/kubernetes/a.pem") == 0o644)
        #expect(try host.root.readText("/etc/other.conf") == "o")
        #expect((host.root.list("/etc") + host.root.list("/etc/kubernetes")).filter { $0.contains("kubeseed-") }.isEmpty)
    }

    @Test func aBatchThatCannotBeWrittenWritesNothing() throws {
        let host = try TemporaryHost()
        let batch: [(path: String, data: Data, mode: UInt16)] = [("/etc/first.conf", Data("1".utf8), 0o644), ("/etc/missing-dir/second.conf", Data("2".utf8), 0o644)]
        #expect(throws: HostError.self) { try host.root.writeAtomically(batch) }
        #expect(try host.root.read("/etc/first.conf") == nil, "the first file must not land without the second")
        #expect(host.root.list("/etc").filter { $0.contains("kubeseed-") }.isEmpty)
    }

    @Test func staleTemporaryFromAKilledWriterIsCleared() throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, "/etc/.fstab.kubeseed-99999", "half written")
        try TemporaryHost.write(host.root, "/etc/.other.kubeseed-99999", "not ours to clear here")
        try host.root.writeAtomically("/etc/fstab", Data("new\n".utf8), mode: 0o644)
        #expect(!host.root.exists("/etc/.fstab.kubeseed-99999"))
        #expect(host.root.exists("/etc/.other.kubeseed-99999"))
        try TemporaryHost.write(host.root, "/var/lib/.journal.json.kubeseed-4242", "{")
        try host.root.remove("/var/lib/journal.json")
        #expect(!host.root.exists("/var/lib/.journal.json.kubeseed-4242"))
    }

    @Test func writeIntoMissingDirectoryNamesThePathAndErrno() throws {
        let host = try TemporaryHost()
        let error = #expect(throws: HostError.self) { try host.root.writeAtomically("/nope/file", Data(), mode: 0o644) }
        #expect(error?.description.contains("/nope/file") == true)
        #expect(error?.errnoValue == ENOENT)
    }

    @Test func symlinkReplacement() throws {
        let host = try TemporaryHost()
        #expect(host.root.readLink("/etc/localtime") == "/usr/share/zoneinfo/Etc/UTC")
        try host.root.replaceSymlink("/etc/localtime", target: "../usr/share/zoneinfo/Asia/Shanghai")
        #expect(host.root.readLink("/etc/localtime") == "../usr/share/zoneinfo/Asia/Shanghai")
        #expect(host.root.readLink("/etc/fstab") == nil)
    }
}

/// Live libkmod / sd-bus against this machine. They skip where there is no module index or no
/// system bus (as in this sandbox); the VM test (Tests/VM) runs them for real on systemd.
@Suite struct LiveHostTests {
    static let hasSystemBus = access("/run/dbus/system_bus_socket", F_OK) == 0 && access("/run/systemd/system", F_OK) == 0

    /// A module this kernel's index lists (the first line of modules.dep), or `nil` without an index.
    static let indexedModule: String? = {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let dep = try? String(contentsOfFile: "/lib/modules/\(release)/modules.dep", encoding: .utf8),
              let first = dep.split(separator: "\n").first, let path = first.split(separator: ":").first else { return nil }
        let file = path.split(separator: "/").last.map(String.init) ?? ""
        return file.components(separatedBy: ".ko").first?.replacingOccurrences(of: "-", with: "_")
    }()

    // `.missing` is also what a lookup without a module index returns: only a module the index lists,
    // seen as not missing, shows that libkmod answered at all.
    @Test(.enabled(if: indexedModule != nil, "needs this kernel's module index (/lib/modules/RELEASE/modules.dep)"))
    func libkmodTellsAnIndexedModuleFromAnUnknownOne() throws {
        let kmod = try LiveKernelModules()
        let known = try #require(Self.indexedModule)
        #expect(kmod.indexState(of: known) != .missing, "\(known) is in modules.dep")
        #expect(kmod.indexState(of: "kubeseed_no_such_module") == .missing)
    }

    /// Cross-checks rtnetlink (libmnl) against the kernel's /proc/net/route text.
    static let procDefaultInterface: String? = {
        guard let text = try? String(contentsOfFile: "/proc/net/route", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n").dropFirst() {
            let fields: [Substring] = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            // Iface Destination Gateway Flags RefCnt Use Metric Mask: destination and mask 0 = default.
            if fields.count > 7 && fields[1] == "00000000" && fields[7] == "00000000" { return String(fields[0]) }
        }
        return nil
    }()

    @Test(.enabled(if: procDefaultInterface != nil, "needs an IPv4 default route on this machine"))
    func netlinkFindsTheSameDefaultRouteAsProc() throws {
        let route = try #require(try LiveNetwork().defaultRoute())
        #expect(route.interface == Self.procDefaultInterface)
        #expect(route.address != nil)
    }

    @Test(.enabled(if: hasSystemBus, "needs a running systemd and system bus"))
    func systemdAnswersUnitState() throws {
        let systemd = try LiveServiceManager()
        #expect(try systemd.unitState("kubeseed-no-such.service").loadState == "not-found")
        #expect(try systemd.unitState("dbus.service").exists)
    }
}

/// The journal under several runners in one process: none may drop another's records, even when each
/// holds its own `ChangeJournal` loaded before the other wrote.
@Suite struct JournalSharingTests {
    @Test func twoJournalsInOneProcessKeepEachOthersRecords() throws {
        let host = try TemporaryHost()
        let original = try host.snapshot()
        let firstJournal = try ChangeJournal(root: host.root)
        let secondJournal = try ChangeJournal(root: host.root)
        let first = StepRunner(root: host.root, effects: host.effects, journal: firstJournal)
        let second = StepRunner(root: host.root, effects: host.effects, journal: secondJournal)
        try second.apply([.writeFile(path: "/etc/kubernetes-b.yaml", content: "b\n", mode: 0o600)], observed: NodeObservation())
        // `firstJournal` was loaded before `second` wrote to the file.
        try first.apply([.writeFile(path: "/etc/kubernetes-a.yaml", content: "a\n", mode: 0o600)], observed: NodeObservation())
        try firstJournal.record([.file(path: "/etc/kubernetes-c.yaml", previous: nil, previousMode: nil)])
        try host.root.writeAtomically("/etc/kubernetes-c.yaml", Data("c\n".utf8), mode: 0o644)
        #expect(try ChangeJournal(root: host.root).records.filter { $0.key.hasPrefix("file:") }.count == 3)
        let outcome = try HostReset(root: host.root, effects: host.effects, journal: firstJournal).run()
        #expect(outcome.failed.isEmpty)
        #expect(try host.snapshot() == original, "reset must remove what both runners wrote")
    }
}

/// Async code on the calling thread (`CallerThreadExecutor`, as `seed-agent` runs) and programs run without
/// Foundation's `Process` (`ProgramRunner`), for real.
@Suite struct CallerThreadTests {
    static func threadID() -> pthread_t { pthread_self() }

    static func work() async throws -> [pthread_t] {
        var seen = [threadID()]
        // Resumed from another thread: the rest of the task must still run on the caller's.
        let value = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            Thread { continuation.resume(returning: 41) }.start()
        }
        seen.append(threadID())
        async let child = Task.yield()
        await child
        seen.append(threadID())
        if value != 41 { throw HostError(.program, "lost the value") }
        return seen
    }

    static func failing() async throws -> Int { throw HostError(.program, "expected") }

    @Test func everyJobOfTheTaskRunsOnTheCallingThreadAndItsErrorComesBack() throws {
        let caller = pthread_self()
        let executor = CallerThreadExecutor()
        let seen = try executor.run(Self.work)
        #expect(seen.count == 3 && seen.allSatisfy { pthread_equal($0, caller) != 0 })
        #expect { try executor.run(Self.failing) } throws: { "\($0)".contains("expected") }
    }

    @Test func aProgramsOutputAndExitStatusComeBackWithoutAThreadPool() throws {
        let result = try ProgramRunner.run("/bin/sh", ["-c", "echo \"$0\" out; echo err >&2; exit 3"], name: "named", timeout: .seconds(10))
        #expect(result.status == 3)
        #expect(result.output == "named out\nerr\n")
        let killed = try ProgramRunner.run("/bin/sh", ["-c", "kill -9 $$"], timeout: .seconds(10))
        #expect(killed.status == 128 + 9)
        #expect(throws: HostError.self) { try ProgramRunner.run("/nonexistent/kubeseed", [], timeout: .seconds(1)) }
        let clock = ContinuousClock()
        let started = clock.now
        #expect { try ProgramRunner.run("/bin/sh", ["-c", "sleep 30"], timeout: .milliseconds(300)) } throws: { "\($0)".contains("ran past") }
        #expect(clock.now - started < .seconds(10), "killed at its deadline, not waited for")
    }
}
