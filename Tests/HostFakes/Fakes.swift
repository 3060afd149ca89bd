import Foundation
import KubeSeedCore
import KubeSeedHost

/// Recording fake of libkmod (a fake, for unit tests): loading a module creates its
/// `/sys/module/<name>` directory (and its dependencies') in the temporary root, and the
/// sysctl files the module brings, as the kernel would.
public final class FakeModules: KernelModuleControl {
    public let root: HostRoot
    public var index: [String: ModuleState]
    public var dependencies: [String: [String]] = ["ip_vs": ["nf_conntrack", "libcrc32c"], "br_netfilter": ["bridge"]]
    public var sysctlsProvided: [String: [String: String]] = [
        "br_netfilter": ["net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1"],
        "nf_conntrack": ["net.netfilter.nf_conntrack_max": "65536"],
    ]
    public var calls: [String] = []
    public var failLoad: Set<String> = []

    public init(root: HostRoot, index: [String: ModuleState]) {
        self.root = root
        self.index = index
    }

    public func indexState(of name: String) -> ModuleState { index[name] ?? .missing }

    public func load(_ name: String) throws {
        calls.append("load \(name)")
        if failLoad.contains(name) { throw HostError(.kmod, "load module \(name)", cause: "fake failure") }
        for module in (dependencies[name] ?? []) + [name] where !root.exists("/sys/module/\(module)") {
            try root.makeDirectory("/sys/module/\(module)", mode: 0o755)
            for (key, value) in sysctlsProvided[module] ?? [:] {
                let path = SysctlSetting(key, value).procPath
                try FileManager.default.createDirectory(atPath: root.resolve((path as NSString).deletingLastPathComponent), withIntermediateDirectories: true)
                try root.writeAtomically(path, Data("\(value)\n".utf8), mode: 0o644)
            }
        }
    }

    public func unload(_ name: String) throws {
        calls.append("unload \(name)")
        // In use while a module depending on it is loaded.
        for (module, deps) in dependencies where deps.contains(name) && root.exists("/sys/module/\(module)") {
            throw HostError(.kmod, "unload module \(name)", cause: "in use by \(module)")
        }
        try root.removeDirectoryIfEmpty("/sys/module/\(name)")
        for (key, _) in sysctlsProvided[name] ?? [:] {
            let path = SysctlSetting(key, "").procPath
            try root.remove(path)
            try root.removeDirectoryIfEmpty((path as NSString).deletingLastPathComponent)
        }
    }
}

/// Recording fake of swapon/swapoff (a fake): keeps `/proc/swaps` in the temporary root in step.
public final class FakeSwap: SwapControl {
    public let root: HostRoot
    public var calls: [String] = []
    public init(root: HostRoot) { self.root = root }

    public func swapOff(_ path: String) throws {
        calls.append("swapoff \(path)")
        let text = try root.readText("/proc/swaps") ?? ""
        let kept = text.split(separator: "\n").filter { !$0.hasPrefix(path + " ") }.joined(separator: "\n") + "\n"
        try root.writeAtomically("/proc/swaps", Data(kept.utf8), mode: 0o644)
    }

    public func swapOn(_ path: String) throws {
        calls.append("swapon \(path)")
        let text = try root.readText("/proc/swaps") ?? ""
        try root.writeAtomically("/proc/swaps", Data((text + "\(path) file 65532 0 -2\n").utf8), mode: 0o644)
    }
}

/// Recording fake of systemd's manager (a fake): unit states in memory.
public final class FakeServices: ServiceManager {
    public var units: [String: UnitState]
    public var calls: [String] = []
    public var failNext: [String: Int] = [:]
    /// Where `reload()` discovers unit files written under /etc/systemd/system, as systemd would.
    public var root: HostRoot?

    public init(units: [String: UnitState], root: HostRoot? = nil) {
        self.units = units
        self.root = root
    }

    /// Units whose start and restart jobs fail (as a unit that exits at once would).
    public var failingUnits: Set<String> = []

    private func maybeFail(_ call: String) throws {
        calls.append(call)
        if let unit = call.split(separator: " ").last.map(String.init), failingUnits.contains(unit), call.hasPrefix("start ") || call.hasPrefix("restart ") {
            throw HostError(.systemJob, "\(call) ended 'failed'", cause: "see: journalctl -u \(unit)")
        }
        let method = String(call.split(separator: " ").first!)
        if let n = failNext[method], n > 0 {
            failNext[method] = n - 1
            throw HostError(.dbus, call, cause: "org.freedesktop.DBus.Error.Failed: fake failure")
        }
    }

    /// Like systemd: a unit not in memory is read from disk when asked for (here: a unit file
    /// written under /etc/systemd/system), with or without a reload.
    public func unitState(_ name: String) throws -> UnitState { loadOnDemand(name) ?? .notFound }
    private func loadOnDemand(_ name: String) -> UnitState? {
        if units[name] == nil, root?.exists("/etc/systemd/system/\(name)") == true {
            units[name] = UnitState(loadState: "loaded", unitFileState: "disabled")
        }
        return units[name]
    }
    public var reloads: Int { calls.filter { $0 == "reload" }.count }
    public func unitNames(matching patterns: [String]) throws -> [String] {
        units.keys.filter { name in patterns.contains { $0 == "*.swap" ? name.hasSuffix(".swap") : $0 == name } }.sorted()
    }
    /// The unit lists `enable(_:)` was given, one per call.
    public var enableBatches: [[String]] = []
    public func enable(_ names: [String]) throws {
        enableBatches.append(names)
        for name in names {
            try maybeFail("enable \(name)")
            // Like EnableUnitFiles: works on the file on disk, loaded or not.
            _ = loadOnDemand(name)
            units[name]?.unitFileState = "enabled"
        }
    }
    public func disable(_ name: String) throws { try maybeFail("disable \(name)"); units[name]?.unitFileState = "disabled" }
    public func mask(_ names: [String]) throws {
        try maybeFail("mask \(names.joined(separator: ","))")
        for name in names {
            var state = units[name] ?? UnitState(loadState: "masked")
            state.loadState = "masked"
            state.unitFileState = "masked"
            units[name] = state
        }
    }
    public func unmask(_ names: [String]) throws {
        try maybeFail("unmask \(names.joined(separator: ","))")
        for name in names {
            units[name]?.loadState = "loaded"
            units[name]?.unitFileState = "generated"
        }
    }
    /// Runs inside `reload()`, as long as systemd's own reload takes: a test's look at what runs beside it.
    public var duringReload: (() -> Void)?
    public func reload() throws {
        try maybeFail("reload")
        duringReload?()
        for name in root?.list("/etc/systemd/system") ?? [] where name.hasSuffix(".service") && units[name] == nil {
            units[name] = UnitState(loadState: "loaded", unitFileState: "disabled")
        }
    }
    public static func nowMicroseconds() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1_000_000) }
    public func start(_ name: String) throws {
        try maybeFail("start \(name)")
        _ = loadOnDemand(name)
        units[name]?.activeState = "active"
        units[name]?.activeEnterMicroseconds = Self.nowMicroseconds()
    }
    public func stop(_ name: String) throws { try maybeFail("stop \(name)"); units[name]?.activeState = "inactive" }
    public func restart(_ name: String) throws {
        try maybeFail("restart \(name)")
        units[name]?.activeState = "active"
        units[name]?.activeEnterMicroseconds = Self.nowMicroseconds()
    }
    /// The job lists `run(_:)` was given, each queued at once.
    public var batches: [[UnitJob]] = []
    /// Like the live manager: every job runs, each failure is its own (recorded in `calls` as `start`/`restart` are).
    public func run(_ jobs: [UnitJob]) -> [Result<Double, any Error>] {
        batches.append(jobs)
        return jobs.map { job in
            Result {
                switch job {
                case .start(let unit): try start(unit)
                case .restart(let unit): try restart(unit)
                }
                return 0
            }
        }
    }
}

/// Recording fake of timedate1 (a fake): writes the relative /etc/localtime link as timedated does.
/// Locked: node preparation sets the time zone on its own thread while it observes the host.
public final class FakeTimeDate: TimeDateControl, @unchecked Sendable {
    public let root: HostRoot
    private let lock = NSLock()
    private var _current: TimeState
    private var _calls: [String] = []
    public var current: TimeState {
        get { lock.withLock { _current } }
        set { lock.withLock { _current = newValue } }
    }
    public var calls: [String] { lock.withLock { _calls } }
    public init(root: HostRoot, current: TimeState) {
        self.root = root
        self._current = current
    }

    public func state() throws -> TimeState { current }
    public func setTimezone(_ zone: String) throws {
        try lock.withLock {
            _calls.append("timezone \(zone)")
            _current.timezone = zone
            try root.replaceSymlink("/etc/localtime", target: "../usr/share/zoneinfo/\(zone)")
            try root.writeAtomically("/etc/timezone", Data("\(zone)\n".utf8), mode: 0o644)
        }
    }
    public func setLocalRTC(_ local: Bool) throws {
        lock.withLock {
            _calls.append("localRTC \(local)")
            _current.localRTC = local
        }
    }
}

/// timedated as a fake that waits (a fake): each call waits (10 s at most) for the file `awaited`, which a
/// step meant to run beside it writes, notes whether that file was there when the call began and when it
/// ended, and then fails when told to. Locked: the calls come from the time settings' own thread.
public final class WaitingTimeDate: TimeDateControl, @unchecked Sendable {
    public let root: HostRoot
    public let awaited: String
    private let lock = NSLock()
    private var _fails: Bool
    private var _awaitedAtStart: [Bool] = []
    private var _sawAwaited: [Bool] = []
    public var fails: Bool {
        get { lock.withLock { _fails } }
        set { lock.withLock { _fails = newValue } }
    }
    /// Whether a call has begun.
    public var began: Bool { lock.withLock { !_awaitedAtStart.isEmpty } }
    /// Per call, whether `awaited` was there when it began.
    public var awaitedAtStart: [Bool] { lock.withLock { _awaitedAtStart } }
    /// Per call, whether `awaited` was there when it ended.
    public var sawAwaited: [Bool] { lock.withLock { _sawAwaited } }

    public init(root: HostRoot, awaited: String, fails: Bool = false) {
        self.root = root
        self.awaited = awaited
        self._fails = fails
    }

    public func state() throws -> TimeState { TimeState(timezone: "Etc/UTC", localRTC: false, ntpSynchronized: false) }
    public func setTimezone(_ zone: String) throws { try call() }
    public func setLocalRTC(_ local: Bool) throws { try call() }

    private func call() throws {
        let atStart = root.exists(awaited)
        lock.withLock { _awaitedAtStart.append(atStart) }
        let deadline = Date().addingTimeInterval(10)
        while !root.exists(awaited) && Date() < deadline { usleep(10_000) }
        let saw = root.exists(awaited)
        lock.withLock { _sawAwaited.append(saw) }
        if fails { throw HostError(.dbus, "SetTimezone", cause: "fake failure") }
    }
}

/// A temporary root laid out like a fresh Debian host: /proc/sys keys, /proc/swaps with an
/// active swap file, an fstab with it, an absolute /etc/localtime link. Removed on deinit.
public final class TemporaryHost {
    public let root: HostRoot
    public let modules: FakeModules
    public let swap: FakeSwap
    public let services: FakeServices
    public let time: FakeTimeDate

    public init() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kubeseed-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        root = HostRoot(path: path)
        for dir in ["/etc/systemd/system", "/etc/kubeseed", "/proc/sys/kernel", "/etc/sysctl.d", "/etc/modules-load.d", "/proc/net", "/sys/module/overlay", "/opt", "/var/lib", "/run",
                    "/usr/share/zoneinfo/Asia", "/usr/share/zoneinfo/Etc", "/sys/fs/cgroup", "/sys/devices/system/cpu", "/usr/sbin", "/usr/bin"] {
            try FileManager.default.createDirectory(atPath: root.resolve(dir), withIntermediateDirectories: true)
        }
        let sysctls = ["net.ipv4.ip_forward": "0", "vm.swappiness": "60", "vm.overcommit_memory": "0", "vm.panic_on_oom": "0",
                       "fs.inotify.max_user_instances": "128", "fs.inotify.max_user_watches": "8192", "fs.file-max": "9223372036854775807",
                       "fs.nr_open": "1048576", "net.ipv4.neigh.default.gc_thresh1": "128", "net.ipv4.neigh.default.gc_thresh2": "512",
                       "net.ipv4.neigh.default.gc_thresh3": "1024"]
        for (key, value) in sysctls { try Self.write(root, SysctlSetting(key, value).procPath, "\(value)\n") }
        try Self.write(root, "/etc/fstab", "/dev/vda / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n")
        try Self.write(root, "/etc/sysctl.d/99-sysctl.conf", "# operator's own\nkernel.pid_max = 65536\n")
        try Self.write(root, "/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swapfile file 65532 0 -2\n")
        try Self.write(root, "/etc/timezone", "Etc/UTC\n")
        try Self.write(root, "/proc/sys/kernel/hostname", "Worker-7\n")
        try Self.write(root, "/proc/meminfo", "MemTotal: 2000000 kB\nMemAvailable: 1500000 kB\n")
        try Self.write(root, "/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
        try Self.write(root, "/sys/devices/system/cpu/online", "0-1\n")
        try Self.write(root, "/proc/net/tcp", "  sl  local_address rem_address   st\n")
        for tool in ["/usr/sbin/ip", "/usr/sbin/iptables", "/usr/bin/mount", "/usr/bin/nsenter", APIBalancer.executable]
            + Self.debianCNIPlugins.map(CNILayout.target) {
            try Self.write(root, tool, "#!/bin/sh\n")
            chmod(root.resolve(tool), 0o755)
        }
        symlink("/usr/share/zoneinfo/Etc/UTC", root.resolve("/etc/localtime"))
        var index: [String: ModuleState] = ["nf_conntrack": .loadable, "nf_conntrack_ipv4": .missing]
        for m in NodePrepSettings.defaultModules { index[m] = .loadable }
        modules = FakeModules(root: root, index: index)
        swap = FakeSwap(root: root)
        services = FakeServices(units: [
            "swapfile.swap": UnitState(loadState: "loaded", activeState: "active", subState: "active", unitFileState: "generated"),
            "swap.target": UnitState(loadState: "loaded", activeState: "active", subState: "active", unitFileState: "static"),
            "chrony.service": UnitState(loadState: "loaded", activeState: "inactive", subState: "dead", unitFileState: "disabled"),
            "containerd.service": UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled",
                                            activeEnterMicroseconds: 1_000_000),
        ], root: root)
        time = FakeTimeDate(root: root, current: TimeState(timezone: "Etc/UTC", localRTC: false, ntpSynchronized: false))
    }

    deinit { try? FileManager.default.removeItem(atPath: root.path) }

    /// Debian's CNI plugins the temporary host has in /usr/lib/cni (a subset of containernetworking-plugins).
    public static let debianCNIPlugins = ["bridge", "host-local", "loopback", "portmap"]

    public var effects: HostEffects { HostEffects(modules: modules, swap: swap, services: services, time: time) }

    public static func write(_ root: HostRoot, _ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: root.resolve((path as NSString).deletingLastPathComponent), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: root.resolve(path)))
    }

    /// Every file, link and directory under the root with its content/target and mode: the
    /// whole host state, for byte-for-byte comparisons.
    public func snapshot(excluding excluded: [String] = ["/run"], withTimes: Bool = false) throws -> [String: String] {
        var result: [String: String] = [:]
        let base = root.path
        let enumerator = FileManager.default.enumerator(atPath: base)!
        while let relative = enumerator.nextObject() as? String {
            let hostPath = "/" + relative
            if excluded.contains(where: { hostPath.hasPrefix($0) }) { continue }
            if let target = root.readLink(hostPath) {
                result[hostPath] = "link → \(target)"
            } else if root.isDirectory(hostPath) {
                result[hostPath] = "dir \(String(root.mode(hostPath)!, radix: 8))"
            } else {
                let data = try root.read(hostPath) ?? Data()
                var line = "file \(String(root.mode(hostPath)!, radix: 8)) \(data.base64EncodedString())"
                if withTimes {
                    var st = stat()
                    stat(root.resolve(hostPath), &st)
                    line += " mtime \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) ino \(st.st_ino)"
                }
                result[hostPath] = line
            }
        }
        return result
    }
}
