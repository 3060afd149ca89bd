import Foundation
import CLinux
import CSystemd
import Glibc
import KubeSeedCore

/// `org.freedesktop.systemd1` over sd-bus: unit state, unit files, and jobs awaited to their end.
public final class LiveServiceManager: ServiceManager {
    private let bus: SystemBus
    private static let destination = "org.freedesktop.systemd1"
    private static let path = "/org/freedesktop/systemd1"
    private static let manager = "org.freedesktop.systemd1.Manager"
    private static let alreadySubscribed = "org.freedesktop.systemd1.AlreadySubscribed"
    /// How long a start or stop job may take.
    public var jobTimeoutSeconds: Double = 120
    /// systemd refuses a second Subscribe from the same connection (`alreadySubscribed`).
    private var subscribed = false

    /// - Parameter effectiveUID: this process's effective UID; as root the manager talks to systemd
    ///   over its private socket instead of through the bus daemon.
    public init(effectiveUID: UInt32 = geteuid()) throws {
        bus = try SystemBus(systemdWithEffectiveUID: effectiveUID)
    }

    private func managerCall(_ member: String, _ arguments: [BusArgument] = []) throws -> BusMessage {
        try bus.call(Self.destination, Self.path, Self.manager, member, arguments)
    }

    public func unitState(_ name: String) throws -> UnitState {
        guard let state = try unitStates([name])[name] else { throw HostError(.dbus, "systemd did not report \(name)") }
        return state
    }

    /// One `ListUnitsByNames` for load, active and sub state (it loads units not in memory), then per
    /// unit only what it leaves out: the unit file state, and for active units when they became active.
    /// Reading five properties one call each cost ~6 round trips per unit.
    public func unitStates(_ names: [String]) throws -> [String: UnitState] {
        guard !names.isEmpty else { return [:] }
        let reply = try managerCall("ListUnitsByNames", [.stringArray(names)])
        var listed: [(name: String, state: UnitState, path: String)] = []
        _ = try reply.enter("a", "(ssssssouso)")
        while try reply.enter("r", "ssssssouso") {
            let name = try reply.readString()
            try reply.skip("s")
            let load = try reply.readString(), active = try reply.readString(), sub = try reply.readString()
            try reply.skip("s")
            let path = try reply.readString("o")
            try reply.skip("uso")
            try reply.exit()
            listed.append((name, UnitState(loadState: load, activeState: active, subState: sub), path))
        }
        try reply.exit()
        let unit = "org.freedesktop.systemd1.Unit"
        var states: [String: UnitState] = [:]
        for var entry in listed {
            entry.state.unitFileState = try bus.stringProperty(Self.destination, entry.path, unit, "UnitFileState")
            if entry.state.isActive {
                entry.state.activeEnterMicroseconds = try bus.uint64Property(Self.destination, entry.path, unit, "ActiveEnterTimestamp")
            }
            states[entry.name] = entry.state
        }
        return states
    }

    public func unitNames(matching patterns: [String]) throws -> [String] {
        let reply = try managerCall("ListUnitsByPatterns", [.stringArray([]), .stringArray(patterns)])
        var names: [String] = []
        _ = try reply.enter("a", "(ssssssouso)")
        while try reply.enter("r", "ssssssouso") {
            names.append(try reply.readString())
            try reply.skip("sssssouso")
            try reply.exit()
        }
        try reply.exit()
        return names
    }

    public func enable(_ names: [String]) throws {
        _ = try managerCall("EnableUnitFiles", [.stringArray(names), .bool(false), .bool(false)])
    }

    public func disable(_ name: String) throws {
        _ = try managerCall("DisableUnitFiles", [.stringArray([name]), .bool(false)])
    }

    public func mask(_ names: [String]) throws {
        _ = try managerCall("MaskUnitFiles", [.stringArray(names), .bool(false), .bool(false)])
    }

    public func unmask(_ names: [String]) throws {
        _ = try managerCall("UnmaskUnitFiles", [.stringArray(names), .bool(false)])
    }

    public func reload() throws {
        _ = try managerCall("Reload")
    }

    public func start(_ name: String) throws { try runJobs([("StartUnit", name)])[0].get() }
    public func stop(_ name: String) throws { try runJobs([("StopUnit", name)])[0].get() }
    public func restart(_ name: String) throws { try runJobs([("RestartUnit", name)])[0].get() }

    public func run(_ jobs: [UnitJob]) -> [Result<Double, any Error>] {
        runJobs(jobs.map { job in
            switch job {
            case .start(let unit): return ("StartUnit", unit)
            case .restart(let unit): return ("RestartUnit", unit)
            }
        }).map { $0.mapError { $0 as any Error } }
    }

    /// Queues every job, then waits for each one's `JobRemoved` signal; a job that does not end `done`
    /// fails with the unit's state, and one that cannot be queued fails alone.
    private func runJobs(_ jobs: [(method: String, unit: String)]) -> [Result<Double, HostError>] {
        let watcher = JobWatcher()
        let unmanaged = Unmanaged.passRetained(watcher)
        defer { unmanaged.release() }
        var slot: OpaquePointer?
        do {
            try negativeErrnoCall(.dbus, "watch systemd jobs") {
                sd_bus_match_signal(bus.bus, &slot, bus.direct ? nil : Self.destination, Self.path, Self.manager, "JobRemoved", { message, userdata, _ in
                    guard let message, let userdata else { return 0 }
                    let watcher = Unmanaged<JobWatcher>.fromOpaque(userdata).takeUnretainedValue()
                    let reply = BusMessage(sd_bus_message_ref(message))
                    guard (try? reply.readUInt32()) != nil, let job = try? reply.readString("o"),
                          (try? reply.readString()) != nil, let result = try? reply.readString() else { return 0 }
                    watcher.results[job] = (result, StepRunner.monotonicSeconds())
                    return 0
                }, unmanaged.toOpaque())
            }
            if !subscribed {
                do {
                    _ = try managerCall("Subscribe")
                } catch let error as HostError where error.dbusErrorName == Self.alreadySubscribed {
                    // Subscribed before on this connection: JobRemoved signals already come.
                }
                subscribed = true
            }
        } catch {
            sd_bus_slot_unref(slot)
            return jobs.map { _ in .failure(error as? HostError ?? HostError(.dbus, "watch systemd jobs", cause: "\(error)")) }
        }
        defer { sd_bus_slot_unref(slot) }
        let started = StepRunner.monotonicSeconds()
        // Each job on its own: one that cannot be queued (a masked unit) does not keep the others from running.
        let queued: [Result<String, HostError>] = jobs.map { method, unit in
            Result { try managerCall(method, [.string(unit), .string("replace")]).readString("o") }.mapError { error in
                error as? HostError ?? HostError(.dbus, "\(method) \(unit)", cause: "\(error)")
            }
        }
        // As for one job: the wait ends when no job has ended for `jobTimeoutSeconds` (a unit ordered after
        // a slow one waits as long as it needs).
        var deadline = started + jobTimeoutSeconds
        var ended = 0
        var waitError: HostError?
        while waitError == nil, queued.contains(where: { (try? $0.get()).map { watcher.results[$0] == nil } ?? false }) {
            let processed = sd_bus_process(bus.bus, nil)
            if processed < 0 { waitError = HostError.errno(.dbus, "wait for systemd's jobs", -processed); break }
            let seen = queued.filter { (try? $0.get()).map { watcher.results[$0] != nil } ?? false }.count
            if seen > ended { ended = seen; deadline = StepRunner.monotonicSeconds() + jobTimeoutSeconds }
            if processed > 0 { continue }
            let remaining = deadline - StepRunner.monotonicSeconds()
            if remaining <= 0 { waitError = HostError(.systemJob, "did not finish within \(Int(jobTimeoutSeconds)) s"); break }
            let waited = sd_bus_wait(bus.bus, UInt64(remaining * 1_000_000))
            if waited < 0 && waited != -EINTR { waitError = HostError.errno(.dbus, "wait for systemd's jobs", -waited) }
        }
        return zip(jobs, queued).map { job, queued in
            let path: String
            switch queued {
            case .failure(let error): return .failure(error)
            case .success(let queuedPath): path = queuedPath
            }
            guard let (result, ended) = watcher.results[path] else {
                let why = waitError ?? HostError(.systemJob, "no end seen")
                return .failure(HostError(.systemJob, "\(job.method) \(job.unit): \(why.message)", cause: why.cause))
            }
            guard result == "done" else { return .failure(failedJob(job.method, job.unit, result)) }
            return .success(ended - started)
        }
    }

    /// Why a job ended other than `done`, with the unit's state and the service's result.
    private func failedJob(_ method: String, _ name: String, _ result: String) -> HostError {
        let state = try? unitState(name)
        var detail = state.map { "now \($0.activeState)/\($0.subState)" } ?? ""
        if name.hasSuffix(".service"), let unitPath = try? managerCall("LoadUnit", [.string(name)]).readString("o"),
           let serviceResult = try? bus.stringProperty(Self.destination, unitPath, "org.freedesktop.systemd1.Service", "Result") {
            detail += ", result \(serviceResult)"
        }
        return HostError(.systemJob, "\(method) \(name) ended '\(result)' \(detail)", cause: "see: journalctl -u \(name)")
    }

}

/// Collects JobRemoved results (job path → result and when it was seen) delivered by sd-bus callbacks on this thread.
private final class JobWatcher {
    var results: [String: (result: String, at: Double)] = [:]
}

/// Time settings: read the way timedated reads them (`/etc/localtime`, `/etc/adjtime`, adjtimex),
/// changed through `org.freedesktop.timedate1` over sd-bus. timedated is bus-activated and exits when
/// idle, so asking it on every pass would start a process each time just to read three values.
public final class LiveTimeDate: TimeDateControl {
    /// Connected on first use: a pass that changes no time setting never talks to the bus.
    private var connection: SystemBus?
    /// Held for each use of the connection: node preparation sets the time zone on its own thread
    /// (`TimeSettingsInFlight`) while its next observation may ask timedated for it.
    private let busLock = NSLock()
    private let root: HostRoot
    private static let destination = "org.freedesktop.timedate1"
    private static let path = "/org/freedesktop/timedate1"
    private static let interface = "org.freedesktop.timedate1"

    public init(root: HostRoot = HostRoot()) throws {
        self.root = root
    }

    private func withBus<T>(_ body: (SystemBus) throws -> T) throws -> T {
        try busLock.withLock {
            if connection == nil { connection = try SystemBus() }
            return try body(connection!)
        }
    }

    public func state() throws -> TimeState {
        var timex = timex()
        let maxError = adjtimex(&timex) < 0 ? Int.max : Int(timex.maxerror)
        let localRTC = TimeState.localRTC(adjtime: try root.readText("/etc/adjtime"))
        let zone: String
        if let target = root.readLink("/etc/localtime") {
            // A link outside the zoneinfo tree: timedated's own answer.
            zone = try TimeState.zone(localtimeTarget: target)
                ?? withBus { try $0.stringProperty(Self.destination, Self.path, Self.interface, "Timezone") }
        } else if !root.exists("/etc/localtime") {
            zone = "UTC"   // glibc's and timedated's default without the link
        } else {
            zone = try withBus { try $0.stringProperty(Self.destination, Self.path, Self.interface, "Timezone") }
        }
        return TimeState(timezone: zone, localRTC: localRTC,
                         ntpSynchronized: TimeState.ntpSynchronized(maxErrorMicroseconds: maxError))
    }

    public func setTimezone(_ zone: String) throws {
        _ = try withBus { try $0.call(Self.destination, Self.path, Self.interface, "SetTimezone", [.string(zone), .bool(false)]) }
    }

    public func setLocalRTC(_ local: Bool) throws {
        _ = try withBus { try $0.call(Self.destination, Self.path, Self.interface, "SetLocalRTC", [.bool(local), .bool(false), .bool(false)]) }
    }
}

/// Tells systemd about the service's state (`READY=1`, `STATUS=…`); a no-op outside a notify unit.
public enum ServiceNotifier {
    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }
}

extension HostEffects {
    /// The real host: libkmod, swap syscalls, and the system bus when there is one.
    /// - Parameter effectiveUID: this process's effective UID (decides how systemd is reached).
    public static func live(effectiveUID: UInt32 = geteuid()) throws -> HostEffects {
        let modules = try LiveKernelModules()
        var effects: HostEffects
        do {
            effects = HostEffects(modules: modules, swap: LiveSwap(), network: LiveNetwork(),
                                  services: try LiveServiceManager(effectiveUID: effectiveUID), time: try LiveTimeDate())
        } catch {
            effects = HostEffects(modules: modules, swap: LiveSwap(), network: LiveNetwork(),
                                  services: nil, time: nil, busError: "\(error) — is systemd running with its system bus?")
        }
        effects.images = ContainerdImages()
        return effects
    }
}
