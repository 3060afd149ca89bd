import Foundation
import Glibc
import KubeSeedCore

/// Gathers a `NodeObservation` — read-only: no file, unit or kernel setting changes.
public struct NodeObserver {
    public let root: HostRoot
    public let effects: HostEffects
    public let effectiveUID: UInt32

    public init(root: HostRoot = HostRoot(), effects: HostEffects, effectiveUID: UInt32 = geteuid()) {
        self.root = root
        self.effects = effects
        self.effectiveUID = effectiveUID
    }

    public func observe(_ settings: NodePrepSettings) -> NodeObservation {
        var observed = NodeObservation()
        observed.isRoot = effectiveUID == 0
        observeKernel(settings, &observed)
        for path in NodePlanner.observedFiles {
            if let text = try? root.readText(path) { observed.files[path] = text }
        }
        observed.activeSwaps = Render.procSwapsPaths((try? root.readText("/proc/swaps")) ?? "")
        if root.isDirectory("/sys/fs/selinux") {
            observed.selinuxEnforce = (try? root.readText(NodePlanner.selinuxEnforcePath)) ?? "1"
        }
        observeSystemd(settings, &observed)
        if let time = effects.time {
            do { observed.time = try time.state() } catch { observed.timeError = "\(error)" }
        } else {
            observed.timeError = effects.busError ?? "no system bus"
        }
        for dir in settings.directories {
            var prefix = ""
            for component in dir.path.split(separator: "/") {
                prefix += "/" + component
                if root.exists(prefix) { observed.existingPaths.insert(prefix) }
            }
        }
        observePreflight(settings, &observed)
        return observed
    }

    /// `observed` after module loads: the modules and the sysctls read again (a module brings its sysctls
    /// with it); the rest is kept, as loading a module changes none of it (units, time, files, the route).
    public func afterModuleLoads(_ observed: NodeObservation, _ settings: NodePrepSettings) -> NodeObservation {
        var observed = observed
        observed.modules = [:]
        observed.sysctls = [:]
        observeKernel(settings, &observed)
        return observed
    }

    private func observeKernel(_ settings: NodePrepSettings, _ observed: inout NodeObservation) {
        for name in settings.modules + settings.conntrackModuleCandidates {
            let sysfsName = String(name.map { $0 == "-" ? "_" : $0 })
            observed.modules[name] = root.exists("/sys/module/\(sysfsName)") ? .loaded : effects.modules.indexState(of: name)
        }
        for setting in settings.sysctls {
            if let value = try? root.readText(setting.procPath) {
                observed.sysctls[setting.key] = value.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
    }

    private func observeSystemd(_ settings: NodePrepSettings, _ observed: inout NodeObservation) {
        guard let services = effects.services else {
            observed.unitsError = effects.busError ?? "no system bus"
            return
        }
        do {
            var swapUnits = Set(try services.unitNames(matching: ["*.swap"]))
            swapUnits.insert("swap.target")
            let fstabSwaps = Render.fstabSwapEntries(observed.files[NodePlanner.fstabPath] ?? "")
            for device in observed.activeSwaps + fstabSwaps {
                if let unit = Render.swapUnitName(forDevice: device) { swapUnits.insert(unit) }
            }
            let others = [settings.ntpUnit, NodePlanner.firewalldUnit]
            let states = try services.unitStates(swapUnits.sorted() + others)
            for unit in swapUnits { observed.swapUnits[unit] = states[unit] ?? .notFound }
            for unit in others { observed.units[unit] = states[unit] ?? .notFound }
        } catch {
            observed.unitsError = "\(error)"
        }
    }

    private func observePreflight(_ settings: NodePrepSettings, _ observed: inout NodeObservation) {
        if let controllers = try? root.readText("/sys/fs/cgroup/cgroup.controllers") {
            observed.cgroupControllers = controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        }
        let memory = ProcParsers.meminfo((try? root.readText("/proc/meminfo")) ?? "")
        observed.memTotalKiB = memory.totalKiB
        observed.memAvailableKiB = memory.availableKiB
        observed.cpuCount = ProcParsers.cpuCount((try? root.readText("/sys/devices/system/cpu/online")) ?? "")
        // Free space where the data will live: the deepest existing parent of the etcd data dir.
        var diskPath = settings.etcdDataDir
        while diskPath != "/" && !root.isDirectory(diskPath) {
            diskPath = (diskPath as NSString).deletingLastPathComponent
        }
        var fs = statvfs()
        if statvfs(root.resolve(diskPath), &fs) == 0 {
            observed.diskFreeBytes = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
        }
        observed.diskPath = diskPath
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            observed.listeningPorts.formUnion(ProcParsers.listeningPorts((try? root.readText(file)) ?? ""))
        }
        if let network = effects.network {
            do { observed.defaultRoute = try network.defaultRoute() } catch { observed.routeError = "\(error)" }
        } else {
            observed.routeError = "not inspected"
        }
        for tool in NodePlanner.requiredTools {
            for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] where access(root.resolve("\(dir)/\(tool)"), X_OK) == 0 {
                observed.tools[tool] = "\(dir)/\(tool)"
                break
            }
        }
    }
}
