import Foundation
import Glibc
@testable import KubeSeedCommands
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The agent's check / apply / reset run for real against a temporary root; kmod, swap and
/// D-Bus are recording fakes (see Fakes.swift).
@Suite struct AgentOperationTests {
    func operations(_ host: TemporaryHost, uid: UInt32 = 0, timezone: String? = "Asia/Shanghai") -> AgentOperations {
        var settings = NodePrepSettings()
        settings.timezone = timezone
        return AgentOperations(root: host.root, effects: host.effects, settings: settings, effectiveUID: uid)
    }

    @Test func checkChangesNothing() throws {
        let host = try TemporaryHost()
        let before = try host.snapshot(withTimes: true)
        let outcome = operations(host).check(json: false)
        #expect(outcome.exitCode == 0, "\(outcome.output)")
        #expect(outcome.output.contains("swap active"))
        #expect(try host.snapshot(withTimes: true) == before)
        #expect(host.modules.calls.isEmpty && host.swap.calls.isEmpty && host.services.calls.isEmpty && host.time.calls.isEmpty)
        let json = operations(host).check(json: true)
        #expect(json.output.contains("\"state\" : \"will change\""))
    }

    @Test func applyPreparesTheNode() async throws {
        let host = try TemporaryHost()
        let outcome = await operations(host).apply()
        #expect(outcome.exitCode == 0, "\(outcome.output)")
        let root = host.root
        #expect(try root.readText(NodePlanner.sysctlConfPath)?.contains("net.bridge.bridge-nf-call-iptables = 1") == true)
        #expect(try root.readText(NodePlanner.modulesLoadPath)?.hasSuffix("overlay\nnf_conntrack\n") == true)
        #expect(try root.readText("/proc/sys/vm/swappiness") == "0\n")
        #expect(try root.readText("/proc/sys/net/netfilter/nf_conntrack_max") == "2310720\n")
        #expect(try root.readText("/etc/fstab") == "/dev/vda / ext4 defaults 0 1\n#kubeseed-swap# /swapfile none swap sw 0 0\n")
        #expect(host.swap.calls == ["swapoff /swapfile"])
        #expect(host.services.units["swapfile.swap"]?.isMasked == true)
        #expect(host.services.units["swap.target"]?.isMasked == true)
        #expect(host.services.calls.contains("enable chrony.service") && host.services.calls.contains("start chrony.service"))
        #expect(host.time.current.timezone == "Asia/Shanghai")
        #expect(root.mode("/data/k8s/etcd/data") == 0o700)
        #expect(root.mode(Journal.defaultPath) == 0o600)
        #expect(root.mode("/var/lib/kubeseed") == 0o700)
        // Modules loaded before the sysctls they provide were written.
        let firstLoad = host.modules.calls.firstIndex(of: "load br_netfilter")
        #expect(firstLoad != nil)
        #expect(outcome.output.contains("changes in"))
    }

    @Test func secondApplyWritesNothing() async throws {
        let host = try TemporaryHost()
        #expect(await operations(host).apply().exitCode == 0)
        let before = try host.snapshot(withTimes: true)
        let callsBefore = (host.modules.calls.count, host.swap.calls.count, host.services.calls.count, host.time.calls.count)
        let second = await operations(host).apply()
        #expect(second.exitCode == 0)
        #expect(second.changes == 0)
        #expect(second.output.contains("unchanged: node already prepared (0 changes"))
        #expect(try host.snapshot(withTimes: true) == before)
        #expect((host.modules.calls.count, host.swap.calls.count, host.services.calls.count, host.time.calls.count) == callsBefore)
    }

    @Test func resetRestoresEveryByte() async throws {
        let host = try TemporaryHost()
        let original = try host.snapshot()
        #expect(await operations(host).apply().exitCode == 0)
        #expect(try host.snapshot() != original)
        let reset = operations(host).reset()
        #expect(reset.exitCode == 0, "\(reset.output)")
        let after = try host.snapshot()
        #expect(after == original, "differs: \(Set(after.keys).symmetricDifference(original.keys)) \(after.filter { original[$0.key] != $0.value }.keys)")
        #expect(host.swap.calls.last == "swapon /swapfile")
        #expect(host.services.units["swapfile.swap"]?.isMasked == false)
        #expect(host.services.calls.contains("disable chrony.service") && host.services.calls.contains("stop chrony.service"))
        #expect(host.time.current.timezone == "Etc/UTC")
        // Dependencies are unloaded after the modules using them.
        let unloads = host.modules.calls.filter { $0.hasPrefix("unload") }
        #expect(unloads.firstIndex(of: "unload ip_vs")! < unloads.lastIndex(of: "unload nf_conntrack")!)
        // A second reset has nothing to do.
        #expect(operations(host).reset().output.contains("nothing to restore"))
    }

    @Test func resetStopsARunningAgentBeforeItUndoesAnything() async throws {
        let host = try TemporaryHost()
        #expect(await operations(host).apply().exitCode == 0)
        for unit in ["seed-agent.path", "seed-agent.service"] {
            host.services.units[unit] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled")
        }
        host.services.calls.removeAll()
        let reset = operations(host).reset()
        #expect(reset.exitCode == 0, "\(reset.output)")
        #expect(Array(host.services.calls.prefix(2)) == ["stop seed-agent.path", "stop seed-agent.service"])
        #expect(reset.output.contains("stopped   seed-agent.service"))
    }

    @Test func interruptedApplyIsFinishedByTheNextAndResetStillRestoresTheOriginal() async throws {
        let host = try TemporaryHost()
        let original = try host.snapshot()
        host.services.failNext["mask"] = 1
        let first = await operations(host).apply()
        #expect(first.exitCode == 1)
        #expect(first.output.contains("run 'seed-agent apply' again"))
        #expect(first.output.contains("fake failure"))
        let second = await operations(host).apply()
        #expect(second.exitCode == 0, "\(second.output)")
        #expect(second.changes > 0)
        #expect(await operations(host).apply().changes == 0)
        #expect(operations(host).reset().exitCode == 0)
        #expect(try host.snapshot() == original)
    }

    @Test func blockingFailureChangesNothing() async throws {
        let host = try TemporaryHost()
        host.modules.index["ip_vs"] = .missing
        let before = try host.snapshot(excluding: [], withTimes: true)
        let outcome = await operations(host).apply()
        #expect(outcome.exitCode == 1)
        #expect(outcome.output.contains("nothing changed"))
        #expect(outcome.output.contains("module ip_vs"))
        #expect(try host.snapshot(excluding: [], withTimes: true) == before)
    }

    @Test func nonRootIsRefusedWithoutChanges() async throws {
        let host = try TemporaryHost()
        let before = try host.snapshot(excluding: [], withTimes: true)
        #expect(await operations(host, uid: 1000).apply().exitCode == 1)
        #expect(operations(host, uid: 1000).reset().exitCode == 1)
        #expect(try host.snapshot(excluding: [], withTimes: true) == before)
    }

    @Test func configErrorsNameFileFieldAndLine() throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, "/etc/kubeseed/agent.yaml", "apiVersion: kubeseed.io/v1alpha1\nkind: AgentConfig\nhost:\n  swap: off\n")
        let error = #expect(throws: ConfigError.self) { try AgentOperations.loadSettings(root: host.root, path: nil) }
        #expect(error?.description.hasPrefix("/etc/kubeseed/agent.yaml:4: field 'host.swap': unknown key") == true)
        // An explicitly named file that is missing is an error; the default path missing means defaults.
        #expect(throws: ConfigError.self) { try AgentOperations.loadSettings(root: host.root, path: "/etc/kubeseed/other.yaml") }
        #expect(try AgentOperations.loadSettings(root: host.root, path: nil, defaultPath: "/etc/kubeseed/none.yaml") == NodePrepSettings())
    }

    @Test func secondAgentIsLockedOut() async throws {
        let host = try TemporaryHost()
        let lock = try HostLock.acquire(host.root)
        defer { lock.release() }
        let outcome = await operations(host).apply()
        #expect(outcome.exitCode == 1)
        #expect(outcome.output.contains("another KubeSeed command"))
    }
}
