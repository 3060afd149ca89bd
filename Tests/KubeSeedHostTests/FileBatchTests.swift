import Foundation
import Glibc
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// File writes and links in a row are made together with one flush (`StepRunner.fileBatch`), against a
/// temporary root.
@Suite struct FileBatchTests {
    @Test func writesInARowAndLinksInARowAreEachOneBatchAndAPathTwiceEndsOne() {
        let steps: [Step] = [
            .writeFile(path: "/etc/a", content: "a", mode: nil), .writeFile(path: "/etc/b", content: "b", mode: nil),
            .link(path: "/opt/cni/bin/x", target: "/usr/lib/cni/x"), .link(path: "/opt/cni/bin/y", target: "/usr/lib/cni/y"),
            .writeFile(path: "/etc/c", content: "c", mode: nil), .writeFile(path: "/etc/c", content: "c2", mode: nil),
            .setSysctl(key: "vm.swappiness", value: "0"),
        ]
        #expect(StepRunner.fileBatch(steps[0...]) == Array(steps[0...1]))
        #expect(StepRunner.fileBatch(steps[2...]) == Array(steps[2...3]))
        #expect(StepRunner.fileBatch(steps[4...]) == [steps[4]])
        #expect(StepRunner.fileBatch(steps[6...]).isEmpty)
    }

    @Test func aBatchWritesEveryFileAndLinkAndCountsEachStepOnce() throws {
        let host = try TemporaryHost()
        for directory in ["/etc/kubernetes", "/opt/cni/bin"] {
            try FileManager.default.createDirectory(atPath: host.root.resolve(directory), withIntermediateDirectories: true)
        }
        try host.root.makeSymlink("/opt/cni/bin/bridge", target: "/usr/lib/cni/bridge")
        let steps: [Step] = [
            .writeFile(path: "/etc/kubernetes/a.yaml", content: "a: 1\n", mode: 0o600),
            .writeFile(path: "/etc/kubernetes/b.yaml", content: "b: 2\n", mode: nil),
            .writeFile(path: "/etc/c.conf", content: "c\n", mode: 0o640),
            .link(path: "/opt/cni/bin/bridge", target: "/usr/lib/cni/bridge"),
            .link(path: "/opt/cni/bin/loopback", target: "/usr/lib/cni/loopback"),
        ]
        let runner = StepRunner(root: host.root, effects: host.effects, journal: try ChangeJournal(root: host.root))
        try runner.apply(steps, observed: NodeObservation())
        #expect(runner.performed.map(\.step) == steps)
        #expect(try host.root.readText("/etc/kubernetes/a.yaml") == "a: 1\n" && host.root.mode("/etc/kubernetes/a.yaml") == 0o600)
        #expect(try host.root.readText("/etc/kubernetes/b.yaml") == "b: 2\n" && host.root.mode("/etc/kubernetes/b.yaml") == 0o644)
        #expect(try host.root.readText("/etc/c.conf") == "c\n" && host.root.mode("/etc/c.conf") == 0o640)
        #expect(host.root.readLink("/opt/cni/bin/loopback") == "/usr/lib/cni/loopback")
        #expect(host.root.list("/etc/kubernetes").sorted() == ["a.yaml", "b.yaml"])
    }

    @Test func aBatchThatCannotWriteOneFileLeavesNoneOfItsFiles() throws {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/etc/kubernetes"), withIntermediateDirectories: true)
        let steps: [Step] = [
            .writeFile(path: "/etc/kubernetes/a.yaml", content: "a\n", mode: nil),
            .writeFile(path: "/etc/missing/b.yaml", content: "b\n", mode: nil),
        ]
        let runner = StepRunner(root: host.root, effects: host.effects, journal: try ChangeJournal(root: host.root))
        #expect(throws: HostError.self) { try runner.apply(steps, observed: NodeObservation()) }
        #expect(host.root.list("/etc/kubernetes").isEmpty)
        #expect(runner.performed.isEmpty)
    }

    @Test func aLinkThatFailsLeavesTheLinksBeforeItCountedAsMade() throws {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/opt/cni/bin"), withIntermediateDirectories: true)
        let steps: [Step] = [
            .link(path: "/opt/cni/bin/bridge", target: "/usr/lib/cni/bridge"),
            .link(path: "/opt/missing/loopback", target: "/usr/lib/cni/loopback"),
            .link(path: "/opt/cni/bin/vlan", target: "/usr/lib/cni/vlan"),
        ]
        let runner = StepRunner(root: host.root, effects: host.effects, journal: try ChangeJournal(root: host.root))
        #expect(throws: HostError.self) { try runner.apply(steps, observed: NodeObservation()) }
        #expect(runner.performed.map(\.step) == [steps[0]])
        #expect(host.root.readLink("/opt/cni/bin/bridge") == "/usr/lib/cni/bridge")
        #expect(host.root.readLink("/opt/cni/bin/vlan") == nil)
    }
}
