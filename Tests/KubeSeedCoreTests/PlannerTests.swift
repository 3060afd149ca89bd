import Foundation
import Testing
@testable import KubeSeedCore

/// A fresh Debian-like host as the observer would see it (fake data for pure planning tests).
func freshObservation() -> NodeObservation {
    var o = NodeObservation()
    o.isRoot = true
    o.existingPaths = ["/opt", "/etc"]
    for m in NodePrepSettings.defaultModules { o.modules[m] = .loadable }
    o.modules["nf_conntrack"] = .loadable
    o.modules["nf_conntrack_ipv4"] = .missing
    for s in NodePrepSettings.defaultSysctls where s.providingModule == nil && !s.onlyIfPresent { o.sysctls[s.key] = "0" }
    o.files[NodePlanner.fstabPath] = "/dev/vda / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n"
    o.activeSwaps = ["/swapfile"]
    o.swapUnits = ["swapfile.swap": UnitState(loadState: "loaded", activeState: "active", subState: "active", unitFileState: "generated"),
                   "swap.target": UnitState(loadState: "loaded", activeState: "active", subState: "active", unitFileState: "static")]
    o.time = TimeState(timezone: "Etc/UTC", localRTC: false, ntpSynchronized: false)
    o.units = ["chrony.service": UnitState(loadState: "loaded", activeState: "inactive", subState: "dead", unitFileState: "disabled"),
               "firewalld.service": .notFound]
    o.cgroupControllers = ["cpuset", "cpu", "io", "memory", "pids"]
    o.memTotalKiB = 2_000_000
    o.cpuCount = 2
    o.diskFreeBytes = 20 << 30
    o.tools = ["ip": "/usr/sbin/ip", "iptables": "/usr/sbin/iptables", "mount": "/usr/bin/mount", "nsenter": "/usr/bin/nsenter"]
    return o
}

/// The same host after `apply`: what the planner should find nothing to do on.
func preparedObservation(_ settings: NodePrepSettings = NodePrepSettings()) -> NodeObservation {
    var o = freshObservation()
    for m in NodePrepSettings.defaultModules + ["nf_conntrack"] { o.modules[m] = .loaded }
    for s in settings.sysctls where !s.onlyIfPresent { o.sysctls[s.key] = s.value }
    o.files[NodePlanner.modulesLoadPath] = Render.modulesLoad(NodePlanner.wantedModules(settings, o))
    o.files[NodePlanner.sysctlConfPath] = Render.sysctlConf(settings.sysctls.filter { !$0.onlyIfPresent })
    o.files[NodePlanner.fstabPath] = Render.fstabWithoutSwap(o.files[NodePlanner.fstabPath]!)
    o.activeSwaps = []
    for name in o.swapUnits.keys { o.swapUnits[name]!.loadState = "masked" }
    o.time!.timezone = settings.timezone ?? "Etc/UTC"
    o.units["chrony.service"] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled")
    for dir in settings.directories {
        var prefix = ""
        for c in dir.path.split(separator: "/") { prefix += "/\(c)"; o.existingPaths.insert(prefix) }
    }
    return o
}

/// Unit tests (pure logic): the planner.
@Suite struct PlannerTests {
    @Test func freshHostPlansEveryChangeInOrder() {
        var settings = NodePrepSettings()
        settings.timezone = "Asia/Shanghai"
        let plan = NodePlanner.plan(settings, freshObservation())
        #expect(!plan.hasFailures)
        let steps = plan.steps
        // Modules load before any sysctl is set.
        let lastModule = steps.lastIndex { $0.isModuleLoad }!
        let firstSysctl = steps.firstIndex { if case .setSysctl = $0 { return true }; return false }!
        #expect(lastModule < firstSysctl)
        #expect(steps.contains(.loadModule("nf_conntrack")))
        #expect(steps.contains(.setSysctl(key: "net.bridge.bridge-nf-call-iptables", value: "1")))
        #expect(steps.contains(.swapOff("/swapfile")))
        #expect(steps.contains(.maskUnits(["swap.target", "swapfile.swap"])))
        #expect(steps.contains(.setTimezone("Asia/Shanghai")))
        #expect(steps.contains(.enableUnit("chrony.service")))
        #expect(steps.contains(.startUnit("chrony.service")))
        #expect(!steps.contains { if case .setSysctl(let key, _) = $0 { return key == "net.ipv4.tcp_tw_recycle" }; return false })
        // Parents before children, each directory once.
        let dirs = steps.compactMap { if case .createDirectory(let p, _) = $0 { return p }; return nil }
        #expect(dirs.first == "/opt/k8s")
        #expect(Set(dirs).count == dirs.count)
        for (index, dir) in dirs.enumerated() {
            let parent = (dir as NSString).deletingLastPathComponent
            if let parentIndex = dirs.firstIndex(of: parent) { #expect(parentIndex < index, "\(parent) must come before \(dir)") }
        }
        #expect(dirs.contains("/data/k8s") && dirs.contains("/data/k8s/etcd/data"), "the check above needs nested directories to compare")
        #expect(steps.contains(.createDirectory(path: "/data/k8s/etcd/data", mode: 0o700)))
    }

    @Test func preparedHostPlansNothing() {
        var settings = NodePrepSettings()
        settings.timezone = "Asia/Shanghai"
        let plan = NodePlanner.plan(settings, preparedObservation(settings))
        #expect(plan.steps.isEmpty, "unexpected steps: \(plan.steps)")
        #expect(!plan.items.contains { $0.state == .change })
    }

    @Test func conntrackFallsBackToTheOldModuleName() {
        var o = freshObservation()
        o.modules["nf_conntrack"] = .missing
        o.modules["nf_conntrack_ipv4"] = .loadable
        let plan = NodePlanner.plan(NodePrepSettings(), o)
        #expect(plan.steps.contains(.loadModule("nf_conntrack_ipv4")))
        #expect(!plan.steps.contains(.loadModule("nf_conntrack")))
        #expect(plan.steps.contains(.setSysctl(key: "net.netfilter.nf_conntrack_max", value: "2310720")))
    }

    @Test func missingModuleBlocksApply() {
        var o = freshObservation()
        o.modules["ip_vs"] = .missing
        let plan = NodePlanner.plan(NodePrepSettings(), o)
        #expect(plan.blockingFailures.map(\.name) == ["module ip_vs"])
    }

    @Test func notRootBlocksApply() {
        var o = freshObservation()
        o.isRoot = false
        #expect(NodePlanner.plan(NodePrepSettings(), o).blockingFailures.map(\.name) == ["running as root"])
    }

    @Test func missingKeyIsWarnedAndNotPersisted() {
        var settings = NodePrepSettings()
        settings.sysctls.append(SysctlSetting("net.example.absent", "1"))
        let plan = NodePlanner.plan(settings, freshObservation())
        let item = plan.items.first { $0.name == "sysctl net.example.absent" }!
        #expect(item.state == .warn)
        #expect(item.steps.isEmpty)
        let written = plan.steps.compactMap { step -> String? in
            if case .writeFile(NodePlanner.sysctlConfPath, let content, _) = step { return content }
            return nil
        }.first!
        #expect(!written.contains("net.example.absent"))
        #expect(written.contains("net.bridge.bridge-nf-call-iptables = 1"))
    }

    @Test func tcpTwRecycleIsSetOnlyWhereItExists() {
        var o = freshObservation()
        o.sysctls["net.ipv4.tcp_tw_recycle"] = "1"
        #expect(NodePlanner.plan(NodePrepSettings(), o).steps.contains(.setSysctl(key: "net.ipv4.tcp_tw_recycle", value: "0")))
    }

    @Test func sysctlValuesCompareIgnoringTabs() {
        var settings = NodePrepSettings()
        settings.sysctls = [SysctlSetting("net.ipv4.ip_local_port_range", "32768 60999")]
        var o = freshObservation()
        o.sysctls = ["net.ipv4.ip_local_port_range": "32768\t60999"]
        #expect(!NodePlanner.plan(settings, o).steps.contains { if case .setSysctl = $0 { return true }; return false })
    }

    @Test func selinuxEnforcingBecomesPermissive() {
        var o = freshObservation()
        o.selinuxEnforce = "1"
        o.files[NodePlanner.selinuxConfigPath] = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"
        let steps = NodePlanner.plan(NodePrepSettings(), o).steps
        #expect(steps.contains(.setSELinuxEnforce("0")))
        #expect(steps.contains(.writeFile(path: NodePlanner.selinuxConfigPath, content: "SELINUX=permissive\nSELINUXTYPE=targeted\n", mode: nil)))
        o.selinuxEnforce = "0"
        o.files[NodePlanner.selinuxConfigPath] = "SELINUX=disabled\n"
        #expect(!NodePlanner.plan(NodePrepSettings(), o).steps.contains { if case .writeFile(NodePlanner.selinuxConfigPath, _, _) = $0 { return true }; return false })
    }

    @Test func firewalldIsStoppedAndDisabled() {
        var o = freshObservation()
        o.units["firewalld.service"] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled")
        let steps = NodePlanner.plan(NodePrepSettings(), o).steps
        #expect(steps.contains(.stopUnit("firewalld.service")))
        #expect(steps.contains(.disableUnit("firewalld.service")))
        var keep = NodePrepSettings()
        keep.disableFirewalld = false
        #expect(!NodePlanner.plan(keep, o).steps.contains(.stopUnit("firewalld.service")))
    }

    @Test func unconfiguredTimezoneIsLeftAlone() {
        let plan = NodePlanner.plan(NodePrepSettings(), freshObservation())
        #expect(!plan.steps.contains { if case .setTimezone = $0 { return true }; return false })
    }

    @Test func missingNtpServiceAndBusFailuresBlock() {
        var o = freshObservation()
        o.units["chrony.service"] = .notFound
        #expect(NodePlanner.plan(NodePrepSettings(), o).blockingFailures.map(\.name) == ["NTP service chrony.service"])
        var noBus = freshObservation()
        noBus.unitsError = "no system bus"
        noBus.time = nil
        noBus.timeError = "no system bus"
        #expect(NodePlanner.plan(NodePrepSettings(), noBus).blockingFailures.count == 3)
    }

    @Test func preflightReportsPortsToolsAndResources() {
        var o = freshObservation()
        o.listeningPorts = [10250]
        o.tools["nsenter"] = nil
        o.memTotalKiB = 900_000
        o.cgroupControllers = ["cpu", "memory"]
        let items = NodePlanner.plan(NodePrepSettings(), o).items
        func state(_ name: String) -> CheckState? { items.first { $0.name == name }?.state }
        #expect(state("port 10250") == .fail)
        #expect(state("port 6443") == .ok)
        #expect(state("tool nsenter") == .fail)
        #expect(state("memory") == .warn)
        #expect(state("cgroup v2") == .fail)
        // Preflight failures do not stop node preparation.
        #expect(NodePlanner.plan(NodePrepSettings(), o).blockingFailures.isEmpty)
    }

    @Test func reportRendersTableAndJSON() throws {
        let items = [PlanItem("a", .ok, "fine"), PlanItem("longer name", .change, "x → y", steps: [.loadModule("ip_vs")])]
        #expect(Report.table(items) == "ITEM         STATE        DETAIL\na            ok           fine\nlonger name  will change  x → y\n")
        #expect(Report.summary(items) == "1 ok, 1 will change, 0 warn, 0 fail")
        let json = Report.json(items)
        let decoded = try JSONDecoder().decode(Report.JSONReport.self, from: Data(json.utf8))
        #expect(decoded.ok)
        #expect(decoded.items[1].changes == ["load module ip_vs"])
    }
}

/// Unit tests (pure logic): the journal keeps the first (original) value of each key.
@Suite struct JournalTests {
    @Test func firstRecordWinsAndRoundTrips() throws {
        var journal = Journal()
        let added = [
            journal.add(.sysctl(key: "vm.swappiness", previous: "60")),
            journal.add(.sysctl(key: "vm.swappiness", previous: "0")),
            journal.add(.file(path: "/etc/fstab", previous: Data([0xff, 0x00, 0x41]), previousMode: 0o644)),
            journal.add(.unitEnabled("chrony.service")),
            journal.add(.unitDisabled("chrony.service")),
        ]
        #expect(added == [true, false, true, true, false])
        let decoded = try Journal.decode(journal.encoded(), file: "j")
        #expect(decoded == journal)
        #expect(decoded.records.first == .sysctl(key: "vm.swappiness", previous: "60"))
    }

    @Test func aBatchKeepsTheFirstRecordOfEachKeyInItAndBeforeIt() {
        var journal = Journal(records: [.moduleLoaded("ip_vs")])
        let added = journal.add([.moduleLoaded("ip_vs"), .sysctl(key: "vm.swappiness", previous: "60"),
                                 .sysctl(key: "vm.swappiness", previous: "0"), .moduleLoaded("br_netfilter")])
        #expect(added == 2)
        #expect(journal.records == [.moduleLoaded("ip_vs"), .sysctl(key: "vm.swappiness", previous: "60"), .moduleLoaded("br_netfilter")])
    }

    @Test func unreadableJournalIsAClearError() {
        let error = #expect(throws: ConfigError.self) { try Journal.decode(Data("{".utf8), file: "/var/lib/kubeseed/journal.json") }
        #expect(error?.description.contains("needed to reset") == true)
    }
}
