import Foundation

/// Computes the plan from wanted settings and an observation. Pure: no I/O, same input → same plan.
public enum NodePlanner {
    public static let modulesLoadPath = "/etc/modules-load.d/kubeseed.conf"
    public static let sysctlConfPath = "/etc/sysctl.d/kubeseed.conf"
    public static let fstabPath = "/etc/fstab"
    public static let selinuxConfigPath = "/etc/selinux/config"
    public static let selinuxEnforcePath = "/sys/fs/selinux/enforce"
    /// Files the observation must carry for `plan` (read if they exist).
    public static let observedFiles = [modulesLoadPath, sysctlConfPath, fstabPath, selinuxConfigPath]
    public static let firewalldUnit = "firewalld.service"
    public static let kubernetesPorts = [6443, 2379, 2380, 10250, 10257, 10259]
    public static let requiredTools = ["ip", "iptables", "mount", "nsenter"]
    public static let requiredCgroupControllers = ["cpu", "cpuset", "memory", "pids"]

    /// The conntrack module this kernel has: the first candidate not missing.
    public static func conntrackModule(_ settings: NodePrepSettings, _ observed: NodeObservation) -> String? {
        settings.conntrackModuleCandidates.first { (observed.modules[$0] ?? .missing) != .missing }
    }

    /// Every module to have loaded, in order.
    public static func wantedModules(_ settings: NodePrepSettings, _ observed: NodeObservation) -> [String] {
        var modules = settings.modules
        if let conntrack = conntrackModule(settings, observed), !modules.contains(conntrack) {
            modules.append(conntrack)
        }
        return modules
    }

    public static func plan(_ settings: NodePrepSettings, _ observed: NodeObservation) -> NodePlan {
        var items: [PlanItem] = []
        items.append(observed.isRoot
            ? PlanItem("running as root", .ok, "uid 0")
            : PlanItem("running as root", .fail, "seed-agent must run as root to change kernel settings", blocksApply: true))
        items += directoryItems(settings, observed)
        let moduleResult = moduleItems(settings, observed)
        items += moduleResult.items
        items += sysctlItems(settings, observed, modulesToLoad: moduleResult.willBeLoaded)
        items += swapItems(observed)
        items += selinuxItems(settings, observed)
        items += timeItems(settings, observed)
        items += firewallItems(settings, observed)
        items += preflightItems(settings, observed)
        return NodePlan(items: items)
    }

    static func directoryItems(_ settings: NodePrepSettings, _ observed: NodeObservation) -> [PlanItem] {
        var steps: [Step] = []
        var planned = Set<String>()
        for dir in settings.directories {
            // Parents first, so each created directory is journaled and `reset` can remove it.
            var prefix = ""
            for component in dir.path.split(separator: "/") {
                prefix += "/" + component
                if observed.existingPaths.contains(prefix) || planned.contains(prefix) { continue }
                planned.insert(prefix)
                steps.append(.createDirectory(path: prefix, mode: prefix == dir.path ? dir.mode : 0o755))
            }
        }
        let created = steps.compactMap { step -> String? in
            if case .createDirectory(let path, _) = step { return path }
            return nil
        }
        if created.isEmpty {
            return [PlanItem("directory layout", .ok, "\(settings.directories.count) directories present")]
        }
        return [PlanItem("directory layout", .change, "create \(created.joined(separator: " "))", steps: steps)]
    }

    static func moduleItems(_ settings: NodePrepSettings, _ observed: NodeObservation) -> (items: [PlanItem], willBeLoaded: Set<String>) {
        var items: [PlanItem] = []
        var willBeLoaded = Set<String>()
        let names = wantedModules(settings, observed)
        let conntrack = conntrackModule(settings, observed)
        for name in names {
            let state = observed.modules[name] ?? .missing
            switch state {
            case .loaded, .builtin:
                willBeLoaded.insert(name)
                items.append(PlanItem("module \(name)", .ok, state == .loaded ? "loaded" : "built into the kernel"))
            case .loadable:
                willBeLoaded.insert(name)
                items.append(PlanItem("module \(name)", .change, "available; will be loaded", steps: [.loadModule(name)]))
            case .missing:
                items.append(PlanItem("module \(name)", .fail,
                    "not in this kernel's module index (install the kernel's modules package, e.g. linux-image-$(uname -r))",
                    blocksApply: true))
            }
        }
        if conntrack == nil {
            items.append(PlanItem("module nf_conntrack", .fail,
                "neither \(settings.conntrackModuleCandidates.joined(separator: " nor ")) is available", blocksApply: true))
        } else if willBeLoaded.contains(conntrack!) {
            willBeLoaded.insert("nf_conntrack")
        }
        items.append(ownedFileItem(modulesLoadPath, wanted: Render.modulesLoad(names), observed))
        return (items, willBeLoaded)
    }

    static func sysctlItems(_ settings: NodePrepSettings, _ observed: NodeObservation, modulesToLoad: Set<String>) -> [PlanItem] {
        var items: [PlanItem] = []
        var persisted: [SysctlSetting] = []
        for setting in settings.sysctls {
            let name = "sysctl \(setting.key)"
            if let current = observed.sysctls[setting.key] {
                persisted.append(setting)
                if normalizeSysctl(current) == normalizeSysctl(setting.value) {
                    items.append(PlanItem(name, .ok, "= \(setting.value)"))
                } else {
                    items.append(PlanItem(name, .change, "\(normalizeSysctl(current)) → \(setting.value)",
                                          steps: [.setSysctl(key: setting.key, value: setting.value)]))
                }
            } else if let module = setting.providingModule, modulesToLoad.contains(module) {
                persisted.append(setting)
                items.append(PlanItem(name, .change, "appears once \(module) is loaded; will be set to \(setting.value)",
                                      steps: [.setSysctl(key: setting.key, value: setting.value)]))
            } else if setting.onlyIfPresent {
                items.append(PlanItem(name, .ok, "not in this kernel; nothing to do"))
            } else {
                items.append(PlanItem(name, .warn, "not in this kernel; skipped"))
            }
        }
        items.append(ownedFileItem(sysctlConfPath, wanted: Render.sysctlConf(persisted), observed))
        return items
    }

    /// A file KubeSeed owns whole: ok when its text is `wanted`, else (re)written 0644.
    static func ownedFileItem(_ path: String, wanted: String, _ observed: NodeObservation) -> PlanItem {
        if observed.files[path] == wanted { return PlanItem(path, .ok, "up to date") }
        return PlanItem(path, .change, observed.files[path] == nil ? "will be written" : "will be rewritten",
                        steps: [.writeFile(path: path, content: wanted, mode: 0o644)])
    }

    /// `/proc/sys` separates multi-value keys with tabs; compare on single spaces.
    public static func normalizeSysctl(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }

    static func swapItems(_ observed: NodeObservation) -> [PlanItem] {
        var items: [PlanItem] = []
        if observed.activeSwaps.isEmpty {
            items.append(PlanItem("swap active", .ok, "none"))
        } else {
            items.append(PlanItem("swap active", .change, "will swapoff \(observed.activeSwaps.joined(separator: " "))",
                                  steps: observed.activeSwaps.map { .swapOff($0) }))
        }
        let fstab = observed.files[fstabPath] ?? ""
        let fstabSwaps = Render.fstabSwapEntries(fstab)
        if fstabSwaps.isEmpty {
            items.append(PlanItem("swap in \(fstabPath)", .ok, "no active swap entries"))
        } else {
            items.append(PlanItem("swap in \(fstabPath)", .change, "will comment out \(fstabSwaps.joined(separator: " "))",
                                  steps: [.writeFile(path: fstabPath, content: Render.fstabWithoutSwap(fstab), mode: nil)]))
        }
        if observed.unitsError != nil {
            items.append(PlanItem("swap units", .fail, "systemd could not be asked: \(observed.unitsError!)", blocksApply: true))
            return items
        }
        var wanted = Set(observed.swapUnits.keys)
        wanted.insert("swap.target")
        for device in observed.activeSwaps + fstabSwaps {
            if let unit = Render.swapUnitName(forDevice: device) { wanted.insert(unit) }
        }
        let toMask = wanted.sorted().filter { !(observed.swapUnits[$0]?.isMasked ?? false) }
        if toMask.isEmpty {
            items.append(PlanItem("swap units", .ok, "masked: \(wanted.sorted().joined(separator: " "))"))
        } else {
            items.append(PlanItem("swap units", .change, "will mask \(toMask.joined(separator: " "))", steps: [.maskUnits(toMask)]))
        }
        return items
    }

    static func selinuxItems(_ settings: NodePrepSettings, _ observed: NodeObservation) -> [PlanItem] {
        guard let enforce = observed.selinuxEnforce else {
            return [PlanItem("SELinux", .ok, "not in this kernel")]
        }
        var items: [PlanItem] = []
        if enforce.trimmingSpaces() == "0" {
            items.append(PlanItem("SELinux now", .ok, "permissive"))
        } else {
            items.append(PlanItem("SELinux now", .change, "enforcing → permissive", steps: [.setSELinuxEnforce("0")]))
        }
        let config = observed.files[selinuxConfigPath] ?? ""
        let current = Render.selinuxConfigMode(config)
        let satisfied = current == settings.selinuxMode.rawValue || (settings.selinuxMode == .permissive && current == "disabled")
        if satisfied {
            items.append(PlanItem("SELinux at boot", .ok, "SELINUX=\(current!)"))
        } else {
            items.append(PlanItem("SELinux at boot", .change, "SELINUX=\(current ?? "(unset)") → \(settings.selinuxMode.rawValue)",
                                  steps: [.writeFile(path: selinuxConfigPath, content: Render.selinuxConfig(config, mode: settings.selinuxMode), mode: nil)]))
        }
        return items
    }

    static func timeItems(_ settings: NodePrepSettings, _ observed: NodeObservation) -> [PlanItem] {
        var items: [PlanItem] = []
        if let time = observed.time {
            if let zone = settings.timezone, zone != time.timezone {
                items.append(PlanItem("time zone", .change, "\(time.timezone.isEmpty ? "(unset)" : time.timezone) → \(zone)",
                                      steps: [.setTimezone(zone)]))
            } else {
                items.append(PlanItem("time zone", .ok, settings.timezone == nil ? "\(time.timezone) (not configured; left as is)" : time.timezone))
            }
            if time.localRTC == settings.localRTC {
                items.append(PlanItem("RTC time scale", .ok, time.localRTC ? "local time" : "UTC"))
            } else {
                items.append(PlanItem("RTC time scale", .change, settings.localRTC ? "UTC → local time" : "local time → UTC",
                                      steps: [.setLocalRTC(settings.localRTC)]))
            }
            items.append(time.ntpSynchronized
                ? PlanItem("clock synchronised", .ok, "NTPSynchronized=yes")
                : PlanItem("clock synchronised", .warn, "not yet synchronised (are the NTP servers reachable?)"))
        } else {
            items.append(PlanItem("time settings", .fail, "timedate1 could not be asked: \(observed.timeError ?? "unknown error")",
                                  blocksApply: true))
        }
        let unit = settings.ntpUnit
        if let error = observed.unitsError {
            items.append(PlanItem("NTP service \(unit)", .fail, "systemd could not be asked: \(error)", blocksApply: true))
            return items
        }
        let state = observed.units[unit] ?? .notFound
        if !state.exists {
            items.append(PlanItem("NTP service \(unit)", .fail, "not installed (apt install chrony)", blocksApply: true))
        } else if state.isMasked {
            items.append(PlanItem("NTP service \(unit)", .fail, "masked; unmask it first (systemctl unmask \(unit))", blocksApply: true))
        } else {
            var steps: [Step] = []
            var todo: [String] = []
            if !state.isEnabled && state.unitFileState != "static" { steps.append(.enableUnit(unit)); todo.append("enable") }
            if !state.isActive { steps.append(.startUnit(unit)); todo.append("start") }
            items.append(steps.isEmpty
                ? PlanItem("NTP service \(unit)", .ok, "\(state.unitFileState), \(state.activeState)")
                : PlanItem("NTP service \(unit)", .change, "will \(todo.joined(separator: " and ")) (now \(state.unitFileState), \(state.activeState))", steps: steps))
        }
        return items
    }

    static func firewallItems(_ settings: NodePrepSettings, _ observed: NodeObservation) -> [PlanItem] {
        guard observed.unitsError == nil else { return [] }
        let state = observed.units[firewalldUnit] ?? .notFound
        guard state.exists, !state.isMasked else {
            return [PlanItem("firewalld", .ok, state.isMasked ? "masked" : "not installed")]
        }
        guard settings.disableFirewalld else {
            return [PlanItem("firewalld", .warn, "\(state.activeState); left running (disableFirewalld: false) — open the Kubernetes ports")]
        }
        var steps: [Step] = []
        if state.isActive { steps.append(.stopUnit(firewalldUnit)) }
        if state.isEnabled { steps.append(.disableUnit(firewalldUnit)) }
        return [steps.isEmpty
            ? PlanItem("firewalld", .ok, "installed, stopped and disabled")
            : PlanItem("firewalld", .change, "will stop and disable (now \(state.unitFileState), \(state.activeState))", steps: steps)]
    }

    static func preflightItems(_ settings: NodePrepSettings, _ observed: NodeObservation) -> [PlanItem] {
        var items: [PlanItem] = []
        if let controllers = observed.cgroupControllers {
            let missing = requiredCgroupControllers.filter { !controllers.contains($0) }
            items.append(missing.isEmpty
                ? PlanItem("cgroup v2", .ok, "controllers: \(controllers.joined(separator: " "))")
                : PlanItem("cgroup v2", .fail, "missing controllers kubelet needs: \(missing.joined(separator: " "))"))
        } else {
            items.append(PlanItem("cgroup v2", .warn, "not mounted at /sys/fs/cgroup (cgroup v1 is deprecated in Kubernetes)"))
        }
        let memMiB = observed.memTotalKiB / 1024
        items.append(PlanItem("memory", memMiB >= 1700 ? .ok : .warn,
                              "\(memMiB) MiB total, \(observed.memAvailableKiB / 1024) MiB available" + (memMiB >= 1700 ? "" : " (1700 MiB recommended)")))
        items.append(PlanItem("CPUs", observed.cpuCount >= 2 ? .ok : .warn,
                              "\(observed.cpuCount)" + (observed.cpuCount >= 2 ? "" : " (2 recommended)")))
        let freeGiB = Double(observed.diskFreeBytes) / 1_073_741_824
        items.append(PlanItem("disk free", freeGiB >= 10 ? .ok : .warn,
                              "\((freeGiB * 10).rounded(.down) / 10) GiB free on \(observed.diskPath)" + (freeGiB >= 10 ? "" : " (10 GiB recommended)")))
        if let route = observed.defaultRoute {
            items.append(PlanItem("default route", .ok, "via \(route.interface)" + (route.address.map { ", node IP \($0)" } ?? "")
                                  + (route.gateway.map { ", gateway \($0)" } ?? "")))
        } else if let error = observed.routeError {
            items.append(PlanItem("default route", .warn, "could not be read: \(error)"))
        } else {
            items.append(PlanItem("default route", .warn, "none: kubelet needs one, or an explicit node IP"))
        }
        for port in kubernetesPorts {
            items.append(observed.listeningPorts.contains(port)
                ? PlanItem("port \(port)", .fail, "in use by another listener")
                : PlanItem("port \(port)", .ok, "free"))
        }
        for tool in requiredTools {
            if let path = observed.tools[tool] {
                items.append(PlanItem("tool \(tool)", .ok, path))
            } else {
                items.append(PlanItem("tool \(tool)", .fail, "not found in /usr/sbin, /usr/bin, /sbin or /bin"))
            }
        }
        return items
    }
}
