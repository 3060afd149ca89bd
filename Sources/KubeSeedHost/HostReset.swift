import Foundation
import KubeSeedCore

/// `reset`: undoes every journaled change, newest first, with the same effects the changes were made through.
public final class HostReset {
    public let root: HostRoot
    public let effects: HostEffects
    public let journal: ChangeJournal
    /// Where KubeSeed pointed each link it made, from the journal.
    private var madeLinks: [String: Set<String>] = [:]

    public init(root: HostRoot = HostRoot(), effects: HostEffects, journal: ChangeJournal) {
        self.root = root
        self.effects = effects
        self.journal = journal
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
    public func run() throws -> ResetOutcome {
        try journal.reload()
        var links: [String: Set<String>] = [:]
        for case .linkMade(let path, let target) in journal.records { links[path, default: []].insert(target) }
        madeLinks = links
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
            case .fileWritten, .linkMade:
                break
            default:
                do {
                    outcome.restored.append(try restore(record))
                } catch let kept as Kept {
                    outcome.leftAsIs.append(kept.detail)
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
        // What KubeSeed wrote or linked stays on record for every path still to restore: a later reset
        // must still tell KubeSeed's content from what appeared since.
        let pending = Set(remaining.compactMap { record -> String? in
            switch record {
            case .file(let path, _, _), .symlink(let path, _): return path
            default: return nil
            }
        })
        for record in journal.records.reversed() {
            switch record {
            case .fileWritten(let path, _), .linkMade(let path, _):
                if pending.contains(path) { remaining.append(record) }
            default: break
            }
        }
        try journal.replace(with: remaining.reversed())
        return outcome
    }

    /// Restores a file KubeSeed wrote, but only while it still holds what KubeSeed wrote: a file changed
    /// since (an operator's edit, a key restored from a backup) is never overwritten or removed. fstab
    /// gets KubeSeed's own lines back and keeps the rest; any other such file stays, with its original
    /// beside it as `<path>.kubeseed-orig`, and the outcome says so.
    private func restoreFile(_ path: String, previous: Data?, mode: UInt16?) throws -> String {
        let current = try root.read(path)
        let ours = current.map { !journal.recordsAnyWrite(at: path) || journal.recordsWrite(of: $0, at: path) } ?? true
        if ours {
            if let previous {
                try root.writeAtomically(path, previous, mode: mode ?? 0o644)
                return "restored \(path)"
            }
            guard current != nil else { return "\(path) already gone" }
            try root.remove(path)
            return "removed \(path)"
        }
        if path == NodePlanner.fstabPath, previous != nil, let text = current.flatMap({ String(data: $0, encoding: .utf8) }) {
            try root.writeAtomically(path, Data(Render.fstabRestoringSwap(text).utf8), mode: root.mode(path) ?? mode ?? 0o644)
            throw Kept(detail: "swap lines KubeSeed commented out in \(path) are active again; the other edits made since are kept")
        }
        guard let previous else {
            throw Kept(detail: "\(path) changed since KubeSeed created it: left in place")
        }
        let backup = path + ".kubeseed-orig"
        try root.writeAtomically(backup, previous, mode: mode ?? 0o600)
        throw Kept(detail: "\(path) changed since KubeSeed wrote it: left in place; its original is in \(backup)")
    }

    /// A journaled file left (or only partly restored) because it changed since KubeSeed wrote it.
    struct Kept: Error { var detail: String }

    private func restore(_ record: JournalRecord) throws -> String {
        switch record {
        case .file(let path, let previous, let mode):
            return try restoreFile(path, previous: previous, mode: mode)
        case .symlink(let path, let previousTarget):
            // A link KubeSeed made is undone only while it is still KubeSeed's.
            if let targets = madeLinks[path] {
                guard let current = root.readLink(path) else {
                    guard root.exists(path) else { return "\(path) already gone" }
                    throw Kept(detail: "\(path) was replaced since KubeSeed linked it: left in place")
                }
                guard targets.contains(current) else {
                    throw Kept(detail: "\(path) points elsewhere since KubeSeed linked it (→ \(current)): left in place")
                }
            }
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
        case .imageImported(let ref):
            guard let images = effects.images else { throw Kept(detail: "image \(ref): containerd cannot be asked here; left") }
            guard try images.references().contains(ref) else { return "image \(ref) already gone" }
            try images.remove(ref)
            return "removed image \(ref)"
        // The etcd member leaves before the reset (seed-agent reset on a master: MasterOperations.leaveEtcd).
        case .unitMasked, .moduleLoaded, .swapActive, .fileWritten, .linkMade, .etcdMemberAdded:
            return "" // handled by run()
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
}
