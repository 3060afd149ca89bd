/// One change to the host. Steps are data: the planner makes them, the host layer applies them.
public enum Step: Sendable, Equatable, CustomStringConvertible {
    case createDirectory(path: String, mode: UInt16)
    case loadModule(String)
    /// Write a whole file; `mode` `nil` keeps an existing file's mode (new files get 0644).
    case writeFile(path: String, content: String, mode: UInt16?)
    /// Remove a file KubeSeed wrote that is no longer rendered (a mirror taken out of the join file).
    case removeFile(path: String)
    /// Make `path` a symbolic link to `target` (nothing of the operator's is at `path`).
    case link(path: String, target: String)
    case setSysctl(key: String, value: String)
    case swapOff(String)
    /// Mask units and reload systemd.
    case maskUnits([String])
    case setSELinuxEnforce(String)
    case setTimezone(String)
    case setLocalRTC(Bool)
    case enableUnit(String)
    case startUnit(String)
    case disableUnit(String)
    case stopUnit(String)
    case restartUnit(String)
    /// systemd re-reads unit files (needed before starting a unit whose file was just written).
    case reloadSystemd

    /// Modules come first: the bridge and conntrack sysctls only exist once their module is in.
    public var isModuleLoad: Bool {
        if case .loadModule = self { return true }
        return false
    }

    /// A value written to `/proc/sys`.
    public var isSysctl: Bool {
        if case .setSysctl = self { return true }
        return false
    }

    /// A module load or a sysctl: needs nothing from systemd (the agent's pass makes them beside its reload).
    public var isKernelStep: Bool { isModuleLoad || isSysctl }

    /// A call to timedated, which needs nothing the other steps make: made on its own thread beside them.
    public var isTimeSetting: Bool {
        switch self {
        case .setTimezone, .setLocalRTC: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .createDirectory(let path, let mode): return "create directory \(path) (mode \(String(mode, radix: 8)))"
        case .loadModule(let name): return "load module \(name)"
        case .writeFile(let path, _, _): return "write \(path)"
        case .removeFile(let path): return "remove \(path) (no longer rendered)"
        case .link(let path, let target): return "link \(path) → \(target)"
        case .setSysctl(let key, let value): return "set \(key) = \(value)"
        case .swapOff(let path): return "swapoff \(path)"
        case .maskUnits(let units): return "mask \(units.joined(separator: ", "))"
        case .setSELinuxEnforce(let value): return "set SELinux enforce = \(value)"
        case .setTimezone(let zone): return "set time zone \(zone)"
        case .setLocalRTC(let local): return "set RTC to \(local ? "local time" : "UTC")"
        case .enableUnit(let unit): return "enable \(unit)"
        case .startUnit(let unit): return "start \(unit)"
        case .disableUnit(let unit): return "disable \(unit)"
        case .stopUnit(let unit): return "stop \(unit)"
        case .restartUnit(let unit): return "restart \(unit)"
        case .reloadSystemd: return "reload systemd"
        }
    }
}

/// The outcome of one check: fine as it is, will be changed by `apply`, worth a look, or a failure.
public enum CheckState: String, Sendable, Codable, Equatable {
    case ok
    case change = "will change"
    case warn
    case fail
}

/// One line of the preflight report, with the steps `apply` takes for it.
public struct PlanItem: Sendable, Equatable {
    public var name: String
    public var state: CheckState
    public var detail: String
    public var steps: [Step]
    /// A failure here stops `apply` before it changes anything.
    public var blocksApply: Bool

    public init(_ name: String, _ state: CheckState, _ detail: String, steps: [Step] = [], blocksApply: Bool = false) {
        self.name = name
        self.state = state
        self.detail = detail
        self.steps = steps
        self.blocksApply = blocksApply
    }
}

/// The whole plan: the report items in order, and the steps they add up to.
public struct NodePlan: Sendable, Equatable {
    public var items: [PlanItem]

    public var steps: [Step] { items.flatMap(\.steps) }
    public var hasFailures: Bool { items.contains { $0.state == .fail } }
    public var blockingFailures: [PlanItem] { items.filter { $0.state == .fail && $0.blocksApply } }
}
