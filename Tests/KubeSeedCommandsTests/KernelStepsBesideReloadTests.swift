import Foundation
import KubeSeedCommands
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The agent's pass enables its units in one call, makes node preparation's module loads and sysctls while
/// its daemon-reload runs, and starts its units only after both (fakes of kmod and systemd whose reload waits, 10 s at most, for a
/// sysctl only those steps write; the bench's guest times the real ones side by side).
@Suite struct KernelStepsBesideReloadTests {
    static let awaited = "/proc/sys/net/bridge/bridge-nf-call-iptables"

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
                while (try? root.readText(KernelStepsBesideReloadTests.awaited)) != "1\n" && Date() < deadline { usleep(10_000) }
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
        // The reload began before br_netfilter was in, and saw its sysctl set while it ran.
        #expect(watch.atStart == [nil] && watch.atEnd == ["1\n"], "\(watch.atStart) \(watch.atEnd)")
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
        // The next pass finds it all made.
        let second = await ConvergeTests().operations(host).converge()
        #expect(second.changes == 0, "\(second.output)")
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
        #expect(pass.pending.jobs.contains(.restartUnit("containerd.service")) || pass.pending.jobs.contains(.startUnit("containerd.service")),
                "\(pass.pending)")
        // Once the module loads, the next pass makes the rest and starts the units.
        host.modules.failLoad = []
        let next = await ConvergeTests().operations(host).converge()
        #expect(next.status.ready, "\(next.output)")
        #expect(host.services.calls.contains { $0.hasPrefix("start kubeseed-api-balancer.service") }, "\(host.services.calls)")
    }
}
