import Foundation
import KubeSeedCore

/// `reset`: observes what the journal's records touched, plans with `ResetPlanner` (Core), and applies the
/// plan through the same effects the changes were made through.
public final class HostReset {
    public let root: HostRoot
    public let effects: HostEffects
    public let journal: ChangeJournal

    public init(root: HostRoot = HostRoot(), effects: HostEffects, journal: ChangeJournal) {
        self.root = root
        self.effects = effects
        self.journal = journal
    }

    /// What `reset` did: restored items, and what it left as is (with why).
    public struct ResetOutcome {
        public var restored: [String] = []
        public var leftAsIs: [String] = []
        public var failed: [String] = []
    }

    /// Undoes every journaled change as `ResetPlanner` plans it from what the host holds now, then keeps
    /// in the journal only what could not be restored (so `reset` can be run again).
    public func run() throws -> ResetOutcome {
        try journal.reload()
        let records = journal.records
        let plan = ResetPlanner.plan(records, observe(records))
        var outcome = ResetOutcome()
        var failed: [JournalRecord] = []
        for entry in plan.entries {
            do {
                let done = try apply(entry.step)
                outcome.restored += done.restored
                outcome.leftAsIs += done.left
            } catch {
                outcome.failed.append("\(Self.label(entry)): \(error)")
                failed += entry.records
            }
        }
        try journal.replace(with: ResetPlanner.remaining(records, failed: failed))
        return outcome
    }

    /// What the host holds now for each record: the planner's only input besides the records.
    func observe(_ records: [JournalRecord]) -> ResetObservation {
        var observed = ResetObservation()
        for record in records {
            switch record {
            case .file(let path, _, _):
                let current: Data
                do {
                    guard let data = try root.read(path) else { observed.files[path] = .absent; continue }
                    current = data
                } catch {
                    observed.files[path] = .unreadable("\(error)")
                    continue
                }
                let asWritten = !journal.recordsAnyWrite(at: path) || journal.recordsWrite(of: current, at: path)
                observed.files[path] = asWritten ? .asWritten : .changed(text: String(data: current, encoding: .utf8))
            case .symlink(let path, _):
                if let target = root.readLink(path) { observed.links[path] = .link(to: target) } else { observed.links[path] = root.exists(path) ? .other : .absent }
            case .sysctl(let key, let previous):
                let path = SysctlSetting(key, previous).procPath
                if root.exists(path) { observed.sysctlsPresent.insert(path) }
            case .moduleLoaded(let name):
                if root.exists("/sys/module/\(name)") { observed.modulesLoaded.insert(name) }
            case .imageImported:
                guard observed.images == .unavailable, let images = effects.images else { break }
                do { observed.images = .holds(Set(try images.references())) } catch { observed.images = .unanswered("\(error)") }
            default: break
            }
        }
        return observed
    }

    /// What a step did: lines for the restored list and for the left-as-is list.
    private struct Done {
        var restored: [String] = []
        var left: [String] = []
        static func restored(_ lines: [String]) -> Done { Done(restored: lines) }
        static func left(_ lines: [String]) -> Done { Done(left: lines) }
    }

    /// The step's line when it fails.
    private static func label(_ entry: ResetPlan.Entry) -> String {
        switch entry.step {
        case .unmask(let units): "unmask \(units.joined(separator: " "))"
        case .reload: "daemon-reload"
        case .restartIfActive(let unit): "restart \(unit)"
        default: entry.records.first?.key ?? "\(entry.step)"
        }
    }

    private func apply(_ step: ResetStep) throws -> Done {
        switch step {
        case .writeFile(let path, let content, let mode):
            try root.writeAtomically(path, content, mode: mode)
            return .restored(["restored \(path)"])
        case .removeFile(let path):
            try root.remove(path)
            return .restored(["removed \(path)"])
        case .restoreSwapLines(let path, let content, let mode):
            try root.writeAtomically(path, content, mode: root.mode(path) ?? mode)
            return .left(["swap lines KubeSeed commented out in \(path) are active again; the other edits made since are kept"])
        case .pointLink(let path, let target):
            // timedated may have put it back already (the time zone is restored before the link).
            if root.readLink(path) == target { return .restored(["\(path) already → \(target)"]) }
            try root.replaceSymlink(path, target: target)
            return .restored(["link \(path) → \(target)"])
        case .enableSwap(let path):
            do { try effects.swap.swapOn(path) } catch { return .left(["swap \(path) stays off (\(error))"]) }
            return .restored(["swapon \(path)"])
        case .setSysctl(let key, let procPath, let value):
            try root.writeKernelValue(procPath, value)
            return .restored(["sysctl \(key) = \(value)"])
        case .setSELinuxEnforce(let value):
            try root.writeKernelValue(NodePlanner.selinuxEnforcePath, value)
            return .restored(["SELinux enforce = \(value)"])
        case .setTimezone(let zone):
            try timeDate().setTimezone(zone)
            return .restored(["time zone \(zone)"])
        case .setLocalRTC(let local):
            try timeDate().setLocalRTC(local)
            return .restored(["RTC in \(local ? "local time" : "UTC")"])
        case .disableUnit(let unit):
            try services().disable(unit)
            return .restored(["disabled \(unit)"])
        case .stopUnit(let unit):
            try services().stop(unit)
            return .restored(["stopped \(unit)"])
        case .enableUnit(let unit):
            try services().enable([unit])
            return .restored(["enabled \(unit)"])
        case .startUnit(let unit):
            try services().start(unit)
            return .restored(["started \(unit)"])
        case .removeDirectoryIfEmpty(let path):
            return .restored([try root.removeDirectoryIfEmpty(path) ? "removed \(path)" : "kept \(path) (not empty)"])
        case .removeImage(let ref):
            guard let images = effects.images else { throw HostError(.file, "containerd cannot be asked to remove image \(ref)") }
            try images.remove(ref)
            return .restored(["removed image \(ref)"])
        case .unmask(let units):
            try services().unmask(units)
            return .restored(["unmasked \(units.joined(separator: " "))"])
        case .reload:
            try services().reload()
            return .restored([])
        case .restartIfActive(let unit):
            // A daemon that died meanwhile starts on its own configuration when it is started again.
            guard (try? services().unitState(unit).isActive) == true else { return .restored([]) }
            try services().restart(unit)
            return .restored(["restarted \(unit) on its restored configuration"])
        case .unloadModules(let names):
            return unload(names)
        case .nothing(let detail):
            return .restored([detail])
        case .cannotDecide(let detail):
            throw HostError(.file, detail, cause: "fix the cause and run reset again")
        case .keep(let detail, let backup):
            if let backup { try root.writeAtomically(backup.path, backup.content, mode: backup.mode) }
            return .left([detail])
        }
    }

    /// Unloads `names` in passes until a pass unloads nothing more (a module cannot go while another uses it).
    private func unload(_ names: [String]) -> Done {
        var restored: [String] = []
        var lastErrors: [String: String] = [:]
        var toUnload = names
        while !toUnload.isEmpty {
            var stillLoaded: [String] = []
            for name in toUnload where root.exists("/sys/module/\(name)") {
                do {
                    try effects.modules.unload(name)
                    restored.append("unloaded module \(name)")
                } catch {
                    lastErrors[name] = "\(error)"
                    stillLoaded.append(name)
                }
            }
            if stillLoaded.count == toUnload.count { break }
            toUnload = stillLoaded
        }
        let left = toUnload.filter { root.exists("/sys/module/\($0)") }.map { "module \($0) stays loaded (\(lastErrors[$0] ?? "in use"))" }
        return Done(restored: restored, left: left)
    }

    private func services() throws -> ServiceManager {
        guard let services = effects.services else { throw HostError(.dbus, "systemd is not reachable", cause: effects.busError) }
        return services
    }

    private func timeDate() throws -> TimeDateControl {
        guard let time = effects.time else { throw HostError(.dbus, "timedate1 is not reachable", cause: effects.busError) }
        return time
    }
}
