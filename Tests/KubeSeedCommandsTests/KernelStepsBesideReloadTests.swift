import Foundation
import KubeSeedCommands
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The agent's pass enables its units in one call, makes node preparation's module loads and sysctls while
/// its daemon-reload runs, and starts its units only after both (fakes of kmod and systemd whose reload
/// waits, 10 s at most, for the value only the sysctl step writes; the bench's guest times the real ones).
@Suite struct KernelStepsBesideReloadTests {
    /// nf_conntrack brings it as 65536 (the fake kmod, as the kernel); only node preparation's sysctl step sets 2310720.
    static let awaited = "/proc/sys/net/netfilter/nf_conntrack_max"
    static let wanted = "2310720\n"

    /// What the fake reload saw of `awaited`, from the reload's own thread.
    final class ReloadWatch: @unchecked Sendable {
        private let lock = NSLock()
        private var _atStart: [String?] = []
        private var _atEnd: [String?] = []
        var atStart: [String?] { lock.withLock { _atStart } }
        var atEnd: [String?] { lock.withLock { _atEnd } }

        func install(on host: TemporaryHost) {
            let root = host.root
            host.services.duringReload = { [self] in
                let start = try? root.readText(KernelStepsBesideReloadTests.awaited)
                let deadline = Date().addingTimeInterval(10)
                while (try? root.readText(KernelStepsBesideReloadTests.awaited)) != KernelStepsBesideReloadTests.wanted && Date() < deadline {
                    usleep(10_000)
                }
                let end = try? root.readText(KernelStepsBesideReloadTests.awaited)
                lock.withLock {
                    _atStart.append(start ?? nil)
                    _atEnd.append(end ?? nil)
                }
            }
        }
    }

    static func isComponentJob(_ call: String) -> Bool {
        (call.hasPrefix("start ") || call.hasPrefix("restart ")) && !call.hasSuffix(" chrony.service")
    }

    func converge(_ host: TemporaryHost) async throws -> AgentOperations.Convergence {
        try ConvergeTests().drop(host, ConvergeTests().joinText())
        return await ConvergeTests().operations(host).converge()
    }

    @Test func theModulesLoadAndTheSysctlsAreSetWhileTheReloadRunsAndTheStartsComeAfter() async throws {
        let host = try TemporaryHost()
        let watch = ReloadWatch()
        watch.install(on: host)
        let pass = try await converge(host)
        #expect(pass.status.ready, "\(pass.output)")
        // The reload began before the sysctl was set, and saw it set while it ran.
        #expect(watch.atStart.count == 1 && watch.atStart != [Self.wanted] && watch.atEnd == [Self.wanted], "\(watch.atStart) \(watch.atEnd)")
        #expect(host.services.reloads == 1, "\(host.services.calls)")
        let calls = host.services.calls
        let reload = try #require(calls.firstIndex(of: "reload"))
        // Node preparation's own start (chrony) comes before; the components' jobs after the reload.
        let firstJob = try #require(calls.firstIndex { Self.isComponentJob($0) })
        #expect(calls.firstIndex { $0.hasPrefix("mask ") }! < reload && reload < firstJob, "\(calls)")
        #expect(host.modules.calls.contains("load br_netfilter") && host.modules.calls.contains("load ip_vs"))
        // The components' units are enabled in one call to systemd, ahead of the reload.
        #expect(host.services.enableBatches.contains(["kubeseed-api-balancer.service", "kubelet.service", "kube-proxy.service"]),
                "\(host.services.enableBatches)")
        // Node preparation says what it left; the components' lines say them made, before the reload's line.
        let lines = pass.output.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("seed-agent apply: ") && $0.contains("; beside the reload: ") && $0.contains(" module loads, ") },
                "\(pass.output)")
        let load = try #require(lines.lastIndex { $0.hasPrefix("  changed  load module ") }, "\(pass.output)")
        let sysctl = try #require(lines.lastIndex { $0.hasPrefix("  changed  set net.netfilter.nf_conntrack_max = ") }, "\(pass.output)")
        let reloadLine = try #require(lines.firstIndex { $0.hasPrefix("  changed  reload systemd") })
        #expect(load < reloadLine && sysctl < reloadLine)
        #expect(try host.root.readText("/proc/sys/net/netfilter/nf_conntrack_max") == "2310720\n")
        // Journaled like every other change: the sysctl's value before, and the modules with their dependencies.
        let records = try ChangeJournal(root: host.root).records
        #expect(records.contains(.sysctl(key: "net.netfilter.nf_conntrack_max", previous: "65536")), "\(records)")
        #expect(records.contains(.moduleLoaded("bridge")))
        // The starts made after the reload are journaled too: reset stops what the pass started.
        #expect(records.contains(.unitStarted("kubeseed-api-balancer.service")), "\(records)")
        // The next pass finds it all made.
        let second = await ConvergeTests().operations(host).converge()
        #expect(second.changes == 0, "\(second.output)")
    }

    /// `seed init` settles what a failed pass still owes: its own owed starts, never the components'.
    @Test func aModuleThatFailsLeavesTheCallersOwedJobsAndOnlyThose() async throws {
        let host = try TemporaryHost()
        host.modules.failLoad = ["ip_vs"]
        try ConvergeTests().drop(host, ConvergeTests().joinText())
        let pass = await ConvergeTests().operations(host).converge(pending: PendingActivation(reload: true, jobs: [.restartUnit("etcd.service")]))
        #expect(pass.status.summary.hasPrefix("node preparation: "), "\(pass.status.summary)")
        #expect(pass.pending.jobs == [.restartUnit("etcd.service")], "\(pass.pending)")
        #expect(host.services.reloads == 1, "\(host.services.calls)")
    }

    @Test func componentsThatFailBeforeTheReloadStillLeaveTheNodePrepared() async throws {
        let host = try TemporaryHost()
        // chrony as node preparation leaves it: the components' enable is the pass's first.
        host.services.units["chrony.service"] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled")
        host.services.failNext["enable"] = 1
        let pass = try await converge(host)
        #expect(pass.status.summary.hasPrefix("components: "), "\(pass.status.summary)")
        // Node preparation's modules and sysctls are made all the same; the reload stays owed.
        #expect(host.modules.calls.contains("load br_netfilter"), "\(host.modules.calls)")
        #expect(try host.root.readText(Self.awaited) == Self.wanted)
        #expect(host.services.reloads == 0 && pass.pending.reload, "\(host.services.calls)")
        #expect(!host.services.calls.contains { Self.isComponentJob($0) }, "\(host.services.calls)")
    }

    @Test func aModuleThatFailsBesideTheReloadFailsNodePreparationAndOwesTheStartsToTheNextPass() async throws {
        let host = try TemporaryHost()
        host.modules.failLoad = ["br_netfilter"]
        let pass = try await converge(host)
        #expect(!pass.status.ready)
        #expect(pass.status.summary.hasPrefix("node preparation: "), "\(pass.status.summary)")
        #expect(pass.status.summary.contains("br_netfilter"))
        // The reload it ran beside still ended; nothing was started on a half-prepared kernel.
        #expect(host.services.reloads == 1, "\(host.services.calls)")
        #expect(!host.services.calls.contains { Self.isComponentJob($0) }, "\(host.services.calls)")
        // Nor left owed for a caller to start: the next pass plans them again from the host.
        #expect(pass.pending.jobs.isEmpty, "\(pass.pending)")
        // Once the module loads, the next pass makes the rest and starts the units.
        host.modules.failLoad = []
        let next = await ConvergeTests().operations(host).converge()
        #expect(next.status.ready, "\(next.output)")
        #expect(host.services.calls.contains { $0.hasPrefix("start kubeseed-api-balancer.service") }, "\(host.services.calls)")
    }
}
