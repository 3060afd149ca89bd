import Foundation
import Glibc
import KubeSeedCore

/// Applies plan steps to the host. Each step's previous value is saved in the journal (fsynced)
/// before the step runs, so an interrupted run loses nothing: the next `apply` finishes the job and
/// `reset` still restores the original values.
public final class NodeApplier {
    public let root: HostRoot
    public let effects: HostEffects
    public let journalPath: String
    public private(set) var journal: Journal
    /// A step this applier performed and how long it took.
    public struct PerformedStep: CustomStringConvertible {
        public var step: Step
        public var seconds: Double
        public var description: String { "\(step) (\(Int((seconds * 1000).rounded())) ms)" }
    }

    /// Steps performed by this applier, in order.
    public private(set) var performed: [PerformedStep] = []

    public init(root: HostRoot = HostRoot(), effects: HostEffects, journalPath: String = Journal.defaultPath) throws {
        self.root = root
        self.effects = effects
        self.journalPath = journalPath
        self.journal = try Self.loadJournal(root, journalPath)
    }

    static func loadJournal(_ root: HostRoot, _ path: String) throws -> Journal {
        guard let data = try root.read(path) else { return Journal() }
        do {
            return try Journal.decode(data, file: path)
        } catch {
            throw HostError(.journal, "\(error)")
        }
    }

    /// Unit-file changes (masks, enables, disables) systemd has not reloaded yet.
    public private(set) var reloadPending = false

    /// Asks for a reload by the end of the next `apply` (an earlier applier's deferred one).
    public func requireReload() { reloadPending = true }

    /// Performs `steps` in order, journaling first. `observed` supplies previous values that only
    /// the observation knows (time zone, unit states). Masks, enables and disables are followed by one
    /// daemon-reload at the end, unless `deferReload` leaves it pending for the caller to fold into
    /// a later one (each reload reruns every systemd generator).
    public func apply(_ steps: [Step], observed: NodeObservation, deferReload: Bool = false) throws {
        // Another applier in this process may have journaled since this one loaded (the caller holds
        // the host lock, so nobody else can): start from the file, never overwrite its records.
        journal = try Self.loadJournal(root, journalPath)
        // Write-ahead for the whole batch: one journal write (and fsync) before the first change.
        var added = false
        for step in steps {
            for record in try previousState(for: step, observed) where journal.add(record) { added = true }
        }
        if added { try saveJournal() }
        for step in steps {
            let started = Self.monotonicSeconds()
            if case .loadModule = step {
                // Dependencies come in with the module; journal them too so reset unloads exactly what appeared.
                let before = Set(root.list("/sys/module"))
                try perform(step)
                let appeared = Set(root.list("/sys/module")).subtracting(before).sorted()
                if appeared.reduce(false, { added, name in journal.add(.moduleLoaded(name)) || added }) { try saveJournal() }
            } else {
                try perform(step)
            }
            switch step {
            // Changes through systemd's install API leave every unit NeedDaemonReload until a reload.
            case .maskUnits, .enableUnit, .disableUnit: reloadPending = true
            case .reloadSystemd: reloadPending = false
            default: break
            }
            performed.append(PerformedStep(step: step, seconds: Self.monotonicSeconds() - started))
        }
        if reloadPending && !deferReload {
            let started = Self.monotonicSeconds()
            try services().reload()
            reloadPending = false
            performed.append(PerformedStep(step: .reloadSystemd, seconds: Self.monotonicSeconds() - started))
        }
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func previousState(for step: Step, _ observed: NodeObservation) throws -> [JournalRecord] {
        var records: [JournalRecord] = []
        switch step {
        case .createDirectory(let path, _):
            records.append(.directoryCreated(path))
        case .loadModule(let name):
            records.append(.moduleLoaded(name))
        case .writeFile(let path, _, _):
            records.append(.file(path: path, previous: try root.read(path), previousMode: root.mode(path)))
        case .setSysctl(let key, _):
            let path = SysctlSetting(key, "").procPath
            if let current = try root.readText(path) {
                records.append(.sysctl(key: key, previous: current.trimmingCharacters(in: .whitespacesAndNewlines)))
            }
        case .swapOff(let path):
            records.append(.swapActive(path))
        case .maskUnits(let units):
            records += units.map { .unitMasked($0) }
        case .setSELinuxEnforce:
            let current = try root.readText(NodePlanner.selinuxEnforcePath) ?? "1"
            records.append(.selinuxEnforce(previous: current.trimmingCharacters(in: .whitespacesAndNewlines)))
        case .setTimezone:
            // timedated rewrites the /etc/localtime link (relative) and Debian's /etc/timezone;
            // keep their exact bytes, restored after the zone itself on reset (journal order reversed).
            records.append(.symlink(path: "/etc/localtime", previousTarget: root.readLink("/etc/localtime")))
            records.append(.file(path: "/etc/timezone", previous: try root.read("/etc/timezone"), previousMode: root.mode("/etc/timezone")))
            records.append(.timezone(previous: observed.time?.timezone ?? ""))
        case .setLocalRTC:
            records.append(.localRTC(previous: observed.time?.localRTC ?? false))
        case .enableUnit(let unit): records.append(.unitEnabled(unit))
        case .startUnit(let unit): records.append(.unitStarted(unit))
        case .disableUnit(let unit): records.append(.unitDisabled(unit))
        case .stopUnit(let unit): records.append(.unitStopped(unit))
        case .restartUnit, .reloadSystemd: break
        }
        return records
    }

    /// Journals changes made outside `apply` (installed binaries) before they are made.
    public func record(_ records: [JournalRecord]) throws {
        var added = false
        journal = try Self.loadJournal(root, journalPath)
        for record in records where journal.add(record) { added = true }
        if added { try saveJournal() }
    }

    private func saveJournal() throws {
        let directory = (journalPath as NSString).deletingLastPathComponent
        if !root.isDirectory(directory) { try root.makeDirectory(directory, mode: 0o700) }
        try root.writeAtomically(journalPath, journal.encoded(), mode: 0o600)
    }

    private func perform(_ step: Step) throws {
        switch step {
        case .createDirectory(let path, let mode):
            if !root.isDirectory(path) { try root.makeDirectory(path, mode: mode) }
        case .loadModule(let name):
            try effects.modules.load(name)
        case .writeFile(let path, let content, let mode):
            try root.writeAtomically(path, Data(content.utf8), mode: mode ?? root.mode(path) ?? 0o644)
        case .setSysctl(let key, let value):
            try root.writeKernelValue(SysctlSetting(key, value).procPath, value)
        case .swapOff(let path):
            try effects.swap.swapOff(path)
        case .maskUnits(let units):
            try services().mask(units)
        case .setSELinuxEnforce(let value):
            try root.writeKernelValue(NodePlanner.selinuxEnforcePath, value)
        case .setTimezone(let zone):
            try timeDate().setTimezone(zone)
        case .setLocalRTC(let local):
            try timeDate().setLocalRTC(local)
        case .enableUnit(let unit): try services().enable(unit)
        case .startUnit(let unit): try services().start(unit)
        case .disableUnit(let unit): try services().disable(unit)
        case .stopUnit(let unit): try services().stop(unit)
        case .restartUnit(let unit): try services().restart(unit)
        case .reloadSystemd: try services().reload()
        }
    }

    private func services() throws -> ServiceManager {
        guard let services = effects.services else { throw HostError(.dbus, "systemd is not reachable", cause: effects.busError) }
        return services
    }

    private func timeDate() throws -> TimeDateControl {
        guard let time = effects.time else { throw HostError(.dbus, "timedate1 is not reachable", cause: effects.busError) }
        return time
    }

    /// Daemons to restart when `reset` restores their configuration file.
    static let restartAfterRestore = [NodePaths.containerdConfig: "containerd.service", EtcdUnit.path: "etcd.service"]

    /// What `reset` did: restored items, and what it left as is (with why).
    public struct ResetOutcome {
        public var restored: [String] = []
        public var leftAsIs: [String] = []
        public var failed: [String] = []
    }

    /// Undoes every journaled change, newest first, then removes the journal. Failures are
    /// collected (the journal keeps those records so `reset` can be run again).
    public func reset() throws -> ResetOutcome {
        journal = try Self.loadJournal(root, journalPath)
        var outcome = ResetOutcome()
        var remaining: [JournalRecord] = []
        var toUnmask: [String] = []
        var toUnload: [String] = []
        for record in journal.records.reversed() {
            switch record {
            case .unitMasked(let unit):
                toUnmask.append(unit)
            case .moduleLoaded(let name):
                toUnload.append(name)
            case .swapActive(let path):
                do {
                    try effects.swap.swapOn(path)
                    outcome.restored.append("swapon \(path)")
                } catch {
                    outcome.leftAsIs.append("swap \(path) stays off (\(error))")
                }
            default:
                do {
                    outcome.restored.append(try restore(record))
                } catch {
                    outcome.failed.append("\(record.key): \(error)")
                    remaining.append(record)
                }
            }
        }
        let unitFilesChanged = journal.records.contains {
            switch $0 {
            case .unitEnabled, .unitDisabled: return true
            default: return false
            }
        }
        if !toUnmask.isEmpty {
            do {
                try services().unmask(toUnmask.reversed())
                outcome.restored.append("unmasked \(toUnmask.reversed().joined(separator: " "))")
            } catch {
                outcome.failed.append("unmask \(toUnmask.joined(separator: " ")): \(error)")
                remaining += toUnmask.map { .unitMasked($0) }
            }
        }
        if unitFilesChanged || !toUnmask.isEmpty {
            do { try services().reload() } catch { outcome.failed.append("daemon-reload: \(error)") }
        }
        // A running daemon keeps the configuration it read: restart it on the restored one.
        for record in journal.records {
            guard case .file(let path, _, _) = record, let unit = Self.restartAfterRestore[path],
                  let state = try? services().unitState(unit), state.isActive else { continue }
            do {
                try services().restart(unit)
                outcome.restored.append("restarted \(unit) on its restored configuration")
            } catch {
                outcome.failed.append("restart \(unit): \(error)")
            }
        }
        // A module cannot go while another uses it: retry in passes until nothing more unloads.
        var lastErrors: [String: String] = [:]
        while !toUnload.isEmpty {
            var stillLoaded: [String] = []
            for name in toUnload where root.exists("/sys/module/\(name)") {
                do {
                    try effects.modules.unload(name)
                    outcome.restored.append("unloaded module \(name)")
                } catch {
                    lastErrors[name] = "\(error)"
                    stillLoaded.append(name)
                }
            }
            if stillLoaded.count == toUnload.count { break }
            toUnload = stillLoaded
        }
        for name in toUnload where root.exists("/sys/module/\(name)") {
            outcome.leftAsIs.append("module \(name) stays loaded (\(lastErrors[name] ?? "in use"))")
        }
        journal = Journal(records: remaining.reversed())
        if remaining.isEmpty {
            try root.remove(journalPath)
            try root.removeDirectoryIfEmpty((journalPath as NSString).deletingLastPathComponent)
        } else {
            try saveJournal()
        }
        return outcome
    }

    private func restore(_ record: JournalRecord) throws -> String {
        switch record {
        case .file(let path, let previous, let mode):
            if let previous {
                try root.writeAtomically(path, previous, mode: mode ?? 0o644)
                return "restored \(path)"
            }
            try root.remove(path)
            return "removed \(path)"
        case .symlink(let path, let previousTarget):
            if let previousTarget {
                guard root.readLink(path) != previousTarget else { return "\(path) already → \(previousTarget)" }
                try root.replaceSymlink(path, target: previousTarget)
                return "link \(path) → \(previousTarget)"
            }
            try root.remove(path)
            return "removed \(path)"
        case .sysctl(let key, let previous):
            let path = SysctlSetting(key, previous).procPath
            guard root.exists(path) else { return "sysctl \(key) gone with its module" }
            try root.writeKernelValue(path, previous)
            return "sysctl \(key) = \(previous)"
        case .selinuxEnforce(let previous):
            try root.writeKernelValue(NodePlanner.selinuxEnforcePath, previous)
            return "SELinux enforce = \(previous)"
        case .timezone(let previous):
            guard !previous.isEmpty else { return "time zone was unset before; left as is" }
            try timeDate().setTimezone(previous)
            return "time zone \(previous)"
        case .localRTC(let previous):
            try timeDate().setLocalRTC(previous)
            return "RTC in \(previous ? "local time" : "UTC")"
        case .unitEnabled(let unit):
            try services().disable(unit)
            return "disabled \(unit)"
        case .unitStarted(let unit):
            try services().stop(unit)
            return "stopped \(unit)"
        case .unitDisabled(let unit):
            try services().enable(unit)
            return "enabled \(unit)"
        case .unitStopped(let unit):
            try services().start(unit)
            return "started \(unit)"
        case .directoryCreated(let path):
            return try root.removeDirectoryIfEmpty(path) ? "removed \(path)" : "kept \(path) (not empty)"
        case .unitMasked, .moduleLoaded, .swapActive:
            return "" // handled by reset()
        }
    }
}

/// An exclusive lock so two agents never change the host at once (held until the process exits).
public enum HostLock {
    public static let defaultPath = "/run/kubeseed/agent.lock"

    public static func acquire(_ root: HostRoot, path: String = defaultPath) throws -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        if !root.isDirectory(directory) { try root.makeDirectory(directory, mode: 0o755) }
        let fd = try systemCall(.file, "open \(path)") { open(root.resolve(path), O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw HostError(.busy, "another seed-agent is changing this host (lock \(path) is held)")
        }
        return fd
    }
}
