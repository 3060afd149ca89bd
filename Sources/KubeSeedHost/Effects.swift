import KubeSeedCore

/// Kernel modules (live: libkmod; tests: a recording fake).
public protocol KernelModuleControl: AnyObject {
    /// `.builtin`, `.loadable` or `.missing` from the module index (loaded-ness is read from /sys/module).
    func indexState(of name: String) -> ModuleState
    func load(_ name: String) throws
    func unload(_ name: String) throws
}

/// swapon(2) / swapoff(2) (live: the syscalls; tests: a recording fake).
public protocol SwapControl: AnyObject {
    func swapOff(_ path: String) throws
    func swapOn(_ path: String) throws
}

/// The parts of `org.freedesktop.systemd1` node preparation uses (live: sd-bus).
public protocol ServiceManager: AnyObject {
    func unitState(_ name: String) throws -> UnitState
    /// Several units' states at once, keyed by name (the live manager batches its bus calls).
    func unitStates(_ names: [String]) throws -> [String: UnitState]
    /// Names of loaded units matching shell-style patterns (e.g. `*.swap`).
    func unitNames(matching patterns: [String]) throws -> [String]
    /// Unit-file changes (enable, disable, mask, unmask) take effect in systemd's view after `reload()`.
    /// Enables the units in one call (systemd's install logic once, not once per unit).
    func enable(_ names: [String]) throws
    func disable(_ name: String) throws
    func mask(_ names: [String]) throws
    func unmask(_ names: [String]) throws
    func reload() throws
    /// Starts the unit and waits for its job to finish; throws unless the job result is `done`.
    func start(_ name: String) throws
    func stop(_ name: String) throws
    /// Restarts the unit and waits for its job, like `start`.
    func restart(_ name: String) throws
    /// Queues every job before waiting for any (systemd orders them by the units' `After=`), then waits
    /// for all of them. Returns, in order, each job's seconds from the first queueing to its end, or why
    /// it did not end `done`.
    func run(_ jobs: [UnitJob]) -> [Result<Double, any Error>]
}

/// A start or restart job, one of several `ServiceManager.run(_:)` queues together.
public enum UnitJob: Sendable, Equatable {
    case start(String)
    case restart(String)

    /// The job a plan step asks for, if it is a start or a restart.
    public init?(_ step: Step) {
        switch step {
        case .startUnit(let unit): self = .start(unit)
        case .restartUnit(let unit): self = .restart(unit)
        default: return nil
        }
    }

    public var unit: String {
        switch self {
        case .start(let unit), .restart(let unit): return unit
        }
    }
}

extension ServiceManager {
    /// One job after the other (a manager that cannot queue several), each timed from the first's start.
    public func run(_ jobs: [UnitJob]) -> [Result<Double, any Error>] {
        let started = StepRunner.monotonicSeconds()
        return jobs.map { job in
            Result {
                switch job {
                case .start(let unit): try start(unit)
                case .restart(let unit): try restart(unit)
                }
                return StepRunner.monotonicSeconds() - started
            }
        }
    }

    public func unitStates(_ names: [String]) throws -> [String: UnitState] {
        var states: [String: UnitState] = [:]
        for name in names { states[name] = try unitState(name) }
        return states
    }
}

/// `org.freedesktop.timedate1` (live: sd-bus).
public protocol TimeDateControl: AnyObject {
    func state() throws -> TimeState
    func setTimezone(_ zone: String) throws
    func setLocalRTC(_ local: Bool) throws
}

/// The routing table (live: rtnetlink through libmnl).
public protocol NetworkInspector: AnyObject {
    /// The IPv4 default route, or `nil` when there is none.
    func defaultRoute() throws -> DefaultRoute?
}

/// containerd's image store in one namespace (live: containerd's `ctr`; tests: a recording fake).
public protocol ImageStore: AnyObject {
    /// The references containerd has.
    func references() throws -> Set<String>
    /// Imports an OCI or docker-archive tarball (host path); returns the references it unpacked.
    func importArchive(_ path: String) throws -> [String]
    /// Adds `label` (`KEY=VALUE`) to an image.
    func label(_ ref: String, _ label: String) throws
    func remove(_ ref: String) throws
}

/// Everything that is not a file, bundled for the observer and the applier.
public struct HostEffects {
    public var modules: KernelModuleControl
    public var swap: SwapControl
    public var network: NetworkInspector?
    /// `nil` when there is no system bus; the plan reports it.
    public var services: ServiceManager?
    public var time: TimeDateControl?
    /// Why `services` / `time` are missing.
    public var busError: String?
    /// containerd's `k8s.io` images (`nil`: no image import on this host, as in most unit tests).
    public var images: ImageStore?

    public init(modules: KernelModuleControl, swap: SwapControl, network: NetworkInspector? = nil,
                services: ServiceManager?, time: TimeDateControl?, busError: String? = nil) {
        self.modules = modules
        self.swap = swap
        self.network = network
        self.services = services
        self.time = time
        self.busError = busError
    }
}

extension HostEffects {
    /// For a command that changes only files (`seed-agent install-binaries`): no module index, no bus.
    /// A step that needs a module, swap or systemd fails with an error saying so.
    public static var filesOnly: HostEffects {
        HostEffects(modules: NoKernelModules(), swap: NoSwapControl(), services: nil, time: nil,
                    busError: "this command changes files only and does not talk to systemd")
    }
}

/// The kernel-module control of `HostEffects.filesOnly`: the index knows no module, and nothing loads.
final class NoKernelModules: KernelModuleControl {
    func indexState(of name: String) -> ModuleState { .missing }
    func load(_ name: String) throws { throw HostError(.kmod, "load \(name): this command does not load modules") }
    func unload(_ name: String) throws { throw HostError(.kmod, "unload \(name): this command does not unload modules") }
}

/// The swap control of `HostEffects.filesOnly`: nothing is switched.
final class NoSwapControl: SwapControl {
    func swapOff(_ path: String) throws { throw HostError(.swap, "swapoff \(path): this command does not switch swap") }
    func swapOn(_ path: String) throws { throw HostError(.swap, "swapon \(path): this command does not switch swap") }
}
