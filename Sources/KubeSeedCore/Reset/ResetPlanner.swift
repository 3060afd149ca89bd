import Foundation

/// What `reset` finds on the host for the journal's records, gathered before anything is undone
/// (`HostReset.observe`); the planner decides from it alone.
public struct ResetObservation: Equatable, Sendable {
    /// A journaled file as it is now.
    public enum FileState: Equatable, Sendable {
        case absent
        /// It holds what KubeSeed wrote (or KubeSeed recorded no write there: it only created the path).
        case asWritten
        /// Someone changed it since KubeSeed wrote it; `text` is kept for fstab, whose swap lines come back anyway.
        case changed(text: String?)
        /// It could not be read (why): nothing can be decided, and the record stays for the next reset.
        case unreadable(String)
    }

    /// What containerd's image store answered.
    public enum ImageStore: Equatable, Sendable {
        /// No containerd to ask on this host.
        case unavailable
        /// It was asked and did not answer (why): the records stay for the next reset.
        case unanswered(String)
        case holds(Set<String>)
    }

    /// A journaled link path as it is now.
    public enum LinkState: Equatable, Sendable {
        case absent
        case link(to: String)
        /// Something that is not a link.
        case other
    }

    public var files: [String: FileState] = [:]
    public var links: [String: LinkState] = [:]
    /// The /proc/sys files of journaled sysctls that exist (a module's go with it).
    public var sysctlsPresent: Set<String> = []
    /// Journaled modules still loaded.
    public var modulesLoaded: Set<String> = []
    public var images: ImageStore = .unavailable

    public init() {}
}

/// One thing `reset` does, decided by `ResetPlanner`.
public enum ResetStep: Equatable, Sendable {
    /// Write back a file's or fstab's earlier content.
    case writeFile(path: String, content: Data, mode: UInt16)
    case removeFile(String)
    /// fstab changed since KubeSeed commented its swap lines out: those lines active again, the other
    /// edits kept (the file keeps its mode; `mode` when it has none).
    case restoreSwapLines(path: String, content: Data, mode: UInt16)
    case pointLink(path: String, target: String)
    case enableSwap(String)
    case setSysctl(key: String, procPath: String, value: String)
    case setSELinuxEnforce(String)
    case setTimezone(String)
    case setLocalRTC(Bool)
    case disableUnit(String)
    case stopUnit(String)
    case enableUnit(String)
    case startUnit(String)
    case removeDirectoryIfEmpty(String)
    case removeImage(String)
    case unmask([String])
    case reload
    /// Restart a daemon on its restored configuration, when it is still active at that point.
    case restartIfActive(String)
    /// Unload modules, in passes until none more unloads (one cannot go while another uses it).
    case unloadModules([String])
    /// What the host holds could not be read: this fails, and its records stay for the next reset.
    case cannotDecide(String)
    /// Nothing to do: reported as restored (`already gone`).
    case nothing(String)
    /// Left as it is, with why; a backup of the original may be written beside it first.
    case keep(detail: String, backup: Backup?)

    /// A file's original, written beside a file that changed since KubeSeed wrote it.
    public struct Backup: Equatable, Sendable {
        public var path: String
        public var content: Data
        public var mode: UInt16
    }
}

/// The steps of a reset, in order, each with the journal records it discharges (kept when it fails).
public struct ResetPlan: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var step: ResetStep
        public var records: [JournalRecord]
    }
    public var entries: [Entry] = []
    public var steps: [ResetStep] { entries.map(\.step) }
}

/// `reset` as a function: the journal's records and what the host holds now in, the steps that undo
/// KubeSeed's changes out. The mirror of `NodePlanner` (which plans the changes); `HostReset` observes
/// and applies.
public enum ResetPlanner {
    /// Daemons restarted when `reset` restores their configuration file.
    public static let restartAfterRestore = [NodePaths.containerdConfig: "containerd.service", EtcdUnit.path: "etcd.service"]

    /// Undoes every record, newest first; masks, the reload and module unloads are batched after the
    /// rest, and daemons restart on their restored configuration.
    public static func plan(_ records: [JournalRecord], _ observed: ResetObservation) -> ResetPlan {
        var plan = ResetPlan()
        func add(_ step: ResetStep, _ records: [JournalRecord]) { plan.entries.append(.init(step: step, records: records)) }
        var madeLinks: [String: Set<String>] = [:]
        for case .linkMade(let path, let target) in records { madeLinks[path, default: []].insert(target) }
        var masked: [JournalRecord] = []
        var modules: [String] = []
        for record in records.reversed() {
            switch record {
            case .unitMasked: masked.append(record)
            case .moduleLoaded(let name): modules.append(name)
            case .swapActive(let path): add(.enableSwap(path), [record])
            case .fileWritten, .linkMade, .etcdMemberAdded: break
            case .file(let path, let previous, let mode):
                add(fileStep(path, previous: previous, mode: mode, observed.files[path] ?? .absent), [record])
            case .symlink(let path, let previousTarget):
                add(linkStep(path, previousTarget: previousTarget, made: madeLinks[path], observed.links[path] ?? .absent), [record])
            case .sysctl(let key, let previous):
                let path = SysctlSetting(key, previous).procPath
                add(observed.sysctlsPresent.contains(path) ? .setSysctl(key: key, procPath: path, value: previous)
                    : .nothing("sysctl \(key) gone with its module"), [record])
            case .selinuxEnforce(let previous): add(.setSELinuxEnforce(previous), [record])
            case .timezone(let previous):
                add(previous.isEmpty ? .nothing("time zone was unset before; left as is") : .setTimezone(previous), [record])
            case .localRTC(let previous): add(.setLocalRTC(previous), [record])
            case .unitEnabled(let unit): add(.disableUnit(unit), [record])
            case .unitStarted(let unit): add(.stopUnit(unit), [record])
            case .unitDisabled(let unit): add(.enableUnit(unit), [record])
            case .unitStopped(let unit): add(.startUnit(unit), [record])
            case .directoryCreated(let path): add(.removeDirectoryIfEmpty(path), [record])
            case .imageImported(let ref):
                switch observed.images {
                case .unavailable: add(.keep(detail: "image \(ref): containerd cannot be asked here; left", backup: nil), [record])
                case .unanswered(let why): add(.cannotDecide("containerd did not list its images (\(why))"), [record])
                case .holds(let images): add(images.contains(ref) ? .removeImage(ref) : .nothing("image \(ref) already gone"), [record])
                }
            }
        }
        if !masked.isEmpty {
            // Unmasked oldest first, as they were masked.
            let records = Array(masked.reversed())
            add(.unmask(records.compactMap { if case .unitMasked(let unit) = $0 { unit } else { nil } }), records)
        }
        let unitFilesChanged = !masked.isEmpty || records.contains {
            switch $0 {
            case .unitEnabled, .unitDisabled: true
            default: false
            }
        }
        if unitFilesChanged { add(.reload, []) }
        // Whether each still runs is known only then (reset may have stopped it): the step asks.
        for case .file(let path, _, _) in records {
            if let unit = restartAfterRestore[path] { add(.restartIfActive(unit), []) }
        }
        let loaded = modules.filter(observed.modulesLoaded.contains)
        if !loaded.isEmpty { add(.unloadModules(loaded), []) }
        return plan
    }

    /// A file KubeSeed wrote is restored or removed only while it still holds what KubeSeed wrote: a file
    /// changed since is never overwritten or removed. fstab gets KubeSeed's own lines back and keeps the
    /// rest; any other such file stays, with its original beside it as `<path>.kubeseed-orig`.
    static func fileStep(_ path: String, previous: Data?, mode: UInt16?, _ state: ResetObservation.FileState) -> ResetStep {
        switch state {
        case .absent:
            if let previous { return .writeFile(path: path, content: previous, mode: mode ?? 0o644) }
            return .nothing("\(path) already gone")
        case .asWritten:
            if let previous { return .writeFile(path: path, content: previous, mode: mode ?? 0o644) }
            return .removeFile(path)
        case .unreadable(let why):
            return .cannotDecide("\(path) could not be read (\(why))")
        case .changed(let text):
            if path == NodePlanner.fstabPath, previous != nil, let text {
                return .restoreSwapLines(path: path, content: Data(Render.fstabRestoringSwap(text).utf8), mode: mode ?? 0o644)
            }
            guard let previous else { return .keep(detail: "\(path) changed since KubeSeed created it: left in place", backup: nil) }
            let backup = path + ".kubeseed-orig"
            return .keep(detail: "\(path) changed since KubeSeed wrote it: left in place; its original is in \(backup)",
                         backup: .init(path: backup, content: previous, mode: mode ?? 0o600))
        }
    }

    /// A link KubeSeed made is undone only while it is still KubeSeed's (`made`: the targets KubeSeed gave it).
    static func linkStep(_ path: String, previousTarget: String?, made: Set<String>?, _ state: ResetObservation.LinkState) -> ResetStep {
        if let made {
            switch state {
            case .absent: return .nothing("\(path) already gone")
            case .other: return .keep(detail: "\(path) was replaced since KubeSeed linked it: left in place", backup: nil)
            case .link(let current) where !made.contains(current):
                return .keep(detail: "\(path) points elsewhere since KubeSeed linked it (→ \(current)): left in place", backup: nil)
            case .link: break
            }
        }
        if let previousTarget {
            if state == .link(to: previousTarget) { return .nothing("\(path) already → \(previousTarget)") }
            return .pointLink(path: path, target: previousTarget)
        }
        return state == .absent ? .nothing("\(path) already gone") : .removeFile(path)
    }

    /// The records the journal keeps after a reset in which the steps holding `failed` failed: those, and
    /// for each file or link still to restore, what KubeSeed wrote or linked there (a later reset must
    /// still tell KubeSeed's content from what appeared since). In the journal's order.
    public static func remaining(_ records: [JournalRecord], failed: [JournalRecord]) -> [JournalRecord] {
        let pending = Set(failed.compactMap { record -> String? in
            switch record {
            case .file(let path, _, _), .symlink(let path, _): path
            default: nil
            }
        })
        var left = failed
        return records.filter { record in
            switch record {
            case .fileWritten(let path, _), .linkMade(let path, _): return pending.contains(path)
            default:
                guard let index = left.firstIndex(of: record) else { return false }
                left.remove(at: index)
                return true
            }
        }
    }
}
