import Foundation

/// How the kernel sees a module.
public enum ModuleState: String, Sendable, Equatable, Codable {
    /// `/sys/module/<name>` exists.
    case loaded
    /// Compiled into the kernel.
    case builtin
    /// Found in the module index, not loaded yet.
    case loadable
    /// Neither loaded nor found in the kernel's module index.
    case missing
}

/// A unit as systemd reports it.
public struct UnitState: Sendable, Equatable, Codable {
    public var loadState: String
    public var activeState: String
    public var subState: String
    public var unitFileState: String
    /// When the unit last entered the active state (µs since the epoch; 0 = never).
    public var activeEnterMicroseconds: UInt64

    public init(loadState: String, activeState: String = "inactive", subState: String = "dead", unitFileState: String = "",
                activeEnterMicroseconds: UInt64 = 0) {
        self.loadState = loadState
        self.activeState = activeState
        self.subState = subState
        self.unitFileState = unitFileState
        self.activeEnterMicroseconds = activeEnterMicroseconds
    }

    public static let notFound = UnitState(loadState: "not-found")

    public var exists: Bool { loadState != "not-found" }
    public var isMasked: Bool { loadState == "masked" || unitFileState.hasPrefix("masked") }
    public var isActive: Bool { ["active", "activating", "reloading"].contains(activeState) }
    /// Whether the unit runs since before a file it reads was modified at `modifiedMicroseconds` (so runs an
    /// older one); `false` when its start time is not known.
    public func runsOlderThan(_ modifiedMicroseconds: UInt64?) -> Bool {
        isActive && activeEnterMicroseconds > 0 && (modifiedMicroseconds ?? 0) > activeEnterMicroseconds
    }
    public var isEnabled: Bool { ["enabled", "enabled-runtime", "alias", "linked", "linked-runtime"].contains(unitFileState) }
}

/// What timedate1 reports.
public struct TimeState: Sendable, Equatable, Codable {
    public var timezone: String
    public var localRTC: Bool
    public var ntpSynchronized: Bool

    public init(timezone: String, localRTC: Bool, ntpSynchronized: Bool) {
        self.timezone = timezone
        self.localRTC = localRTC
        self.ntpSynchronized = ntpSynchronized
    }
}

/// Everything the planner needs to know about the host, gathered read-only by the host layer.
public struct NodeObservation: Sendable {
    public var isRoot = false
    /// State of every module the settings name (and every conntrack candidate).
    public var modules: [String: ModuleState] = [:]
    /// Current value of each wanted sysctl key; a key the kernel lacks is absent.
    public var sysctls: [String: String] = [:]
    /// Current text of the files node preparation renders or edits; a missing file is absent.
    public var files: [String: String] = [:]
    /// Paths in `/proc/swaps`.
    public var activeSwaps: [String] = []
    /// Swap units systemd knows, plus `swap.target`, by name.
    public var swapUnits: [String: UnitState] = [:]
    /// `/sys/fs/selinux/enforce`, or `nil` when SELinux is not in this kernel.
    public var selinuxEnforce: String?
    /// `nil` when timedate1 could not be asked; `timeError` says why.
    public var time: TimeState?
    public var timeError: String?
    /// The NTP service and firewalld, by name.
    public var units: [String: UnitState] = [:]
    /// `nil` when systemd could not be asked; `unitsError` says why.
    public var unitsError: String?
    /// Which of the layout's directories and their parents exist.
    public var existingPaths: Set<String> = []

    // Preflight facts: reported, never changed.
    /// Controllers in the root cgroup v2 `cgroup.controllers`; `nil` when cgroup v2 is not mounted.
    public var cgroupControllers: [String]?
    public var memTotalKiB: UInt64 = 0
    public var memAvailableKiB: UInt64 = 0
    public var cpuCount = 0
    public var diskFreeBytes: UInt64 = 0
    /// The existing directory whose file system `diskFreeBytes` measures.
    public var diskPath = "/"
    /// TCP ports some socket is listening on.
    public var listeningPorts: Set<Int> = []
    /// The IPv4 default route (`nil`: none, or `routeError` says why it could not be read).
    public var defaultRoute: DefaultRoute?
    public var routeError: String?
    /// Tool name → where it was found (absent when not found).
    public var tools: [String: String] = [:]

    public init() {}
}

extension TimeState {
    /// The zone timedated reports for an `/etc/localtime` link target: the path under
    /// `/usr/share/zoneinfo/` (absolute or `../`-relative), or nil when the target is elsewhere
    /// (then only timedated itself can say).
    public static func zone(localtimeTarget target: String) -> String? {
        for prefix in ["/usr/share/zoneinfo/", "../usr/share/zoneinfo/"] where target.hasPrefix(prefix) {
            let zone = String(target.dropFirst(prefix.count))
            return zone.isEmpty ? nil : zone
        }
        return nil
    }

    /// Whether the RTC keeps local time, as timedated reads `/etc/adjtime`: its third line is
    /// `LOCAL`. A missing file (nil) means UTC.
    public static func localRTC(adjtime text: String?) -> Bool {
        guard let text else { return false }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.count >= 3 && lines[2].trimmingCharacters(in: .whitespaces) == "LOCAL"
    }

    /// timedated's NTPSynchronized: the kernel's maximum error is under 16 s (its `ntp_synced()`).
    public static func ntpSynchronized(maxErrorMicroseconds: Int) -> Bool {
        maxErrorMicroseconds < 16_000_000
    }
}
