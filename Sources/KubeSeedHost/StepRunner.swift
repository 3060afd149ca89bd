import Foundation
import Glibc
import KubeSeedCore

/// Performs plan steps on the host. Each step's previous value goes into the change journal
/// (fsynced) before the step runs, so an interrupted run loses nothing: the next run finishes the job
/// and `reset` still restores the original values.
public final class StepRunner {
    public let root: HostRoot
    public let effects: HostEffects
    public let journal: ChangeJournal
    /// A step this runner performed and how long it took.
    public struct PerformedStep: CustomStringConvertible {
        public var step: Step
        public var seconds: Double
        public var description: String { "\(step) (\(Int((seconds * 1000).rounded())) ms)" }
    }

    /// Steps performed by this runner, in order.
    public private(set) var performed: [PerformedStep] = []
    /// Start and restart jobs that did not end `done`, with why.
    public private(set) var failedJobs: [(step: Step, error: any Error)] = []

    public init(root: HostRoot = HostRoot(), effects: HostEffects, journal: ChangeJournal) {
        self.root = root
        self.effects = effects
        self.journal = journal
    }

    /// Unit-file changes (masks, enables, disables) systemd has not reloaded yet.
    public private(set) var reloadPending = false
    /// Starts and restarts an earlier list left (`require`), not run yet.
    public private(set) var pendingJobs: [Step] = []

    /// What this runner still owes systemd: a reload, and jobs that must follow it.
    public var pending: PendingActivation { PendingActivation(reload: reloadPending, jobs: pendingJobs) }

    /// Takes on what an earlier list owes: the next `apply` reloads (by its end) and runs the jobs after
    /// the reload, in one batch with its own first starts and restarts (or at its end when it has none).
    public func require(_ pending: PendingActivation) {
        if pending.reload { reloadPending = true }
        pendingJobs += pending.jobs.filter { !pendingJobs.contains($0) }
    }

    /// Performs `steps` in order, journaling first; time settings (timedated's calls) on their own thread
    /// beside the others, waited for before it returns. Starts and restarts in a row are queued at once and
    /// waited for together; the first that fails stops the run once all have ended (those that ended
    /// `done` count as performed). `observed` supplies previous values that only the observation knows
    /// (time zone, unit states). Masks, enables and disables are followed by one daemon-reload at the
    /// end, then the jobs owed (`require`) if no batch took them, unless `deferReload` leaves both
    /// pending for the caller to fold into a later list (each reload reruns every systemd generator).
    public func apply(_ steps: [Step], observed: NodeObservation, deferReload: Bool = false) throws {
        // Settings started ahead are made already: not twice.
        let steps = steps.filter { !(timeSettingsAhead?.steps.contains($0) ?? false) }
        // Write-ahead for the whole batch: one journal write (and fsync) before the first change.
        try journal.record(try (steps + (deferReload ? [] : pendingJobs)).flatMap { try previousState(for: $0, observed) })
        let timeSettings = steps.filter(\.isTimeSetting)
        let inFlight = timeSettings.isEmpty ? nil : TimeSettingsInFlight(timeSettings, try timeDate())
        do {
            try applyInOrder(steps.filter { !$0.isTimeSetting }, deferReload: deferReload)
        } catch {
            if let inFlight { _ = collect(inFlight) }
            throw error
        }
        if let inFlight, let failure = collect(inFlight) { throw failure }
    }

    /// Writes ahead, in one journal save, what `steps` will change; the `apply` or `startTimeSettings` that
    /// makes them then finds their records there. Node preparation's time settings and module loads start
    /// one right after the other: one save for both.
    public func journalAhead(_ steps: [Step], observed: NodeObservation) throws {
        try journal.record(try steps.flatMap { try previousState(for: $0, observed) })
    }

    /// Time settings that failed, with why (the first is thrown unless another step's error was).
    public private(set) var failedTimeSettings: [(step: Step, error: any Error)] = []

    /// Waits for `inFlight`: what it made is performed, what failed is kept; returns the failure.
    private func collect(_ inFlight: TimeSettingsInFlight) -> (any Error)? {
        let (made, failure) = inFlight.finish()
        performed += made
        guard let failure else { return nil }
        failedTimeSettings.append(failure)
        return failure.error
    }

    /// Time settings started before the list that has them (`startTimeSettings`).
    private var timeSettingsAhead: TimeSettingsInFlight?

    /// Starts the time settings among `steps` now, journaled first, on their own thread: node preparation
    /// starts them before its module loads. Later lists leave them out; `finishTimeSettings` waits for them.
    public func startTimeSettings(_ steps: [Step], observed: NodeObservation) throws {
        let settings = steps.filter(\.isTimeSetting)
        guard !settings.isEmpty, timeSettingsAhead == nil else { return }
        try journal.record(try settings.flatMap { try previousState(for: $0, observed) })
        timeSettingsAhead = TimeSettingsInFlight(settings, try timeDate())
    }

    /// Waits for the time settings `startTimeSettings` started: those made count as performed, the first
    /// that failed is kept (`failedTimeSettings`) and thrown.
    public func finishTimeSettings() throws {
        guard let ahead = timeSettingsAhead else { return }
        timeSettingsAhead = nil
        if let failure = collect(ahead) { throw failure }
    }

    /// Hands the time settings `startTimeSettings` started, still running, to whoever takes them over
    /// (`takeOverTimeSettings`): the agent's pass lets them run on beside its components' steps, past
    /// node preparation's end. `nil` when none were started or they were finished.
    public func handOverTimeSettings() -> TimeSettingsHandOff? {
        guard let ahead = timeSettingsAhead else { return nil }
        timeSettingsAhead = nil
        return TimeSettingsHandOff(ahead)
    }

    /// Takes over time settings another runner started: `finishTimeSettings` waits for them here, and
    /// what they made counts as performed here.
    public func takeOverTimeSettings(_ handOff: TimeSettingsHandOff?) {
        precondition(timeSettingsAhead == nil, "a runner takes over time settings before it starts any of its own")
        timeSettingsAhead = handOff?.take()
    }

    deinit {
        // Never leave timedated's call running on its own.
        _ = timeSettingsAhead?.finish()
    }

    /// `apply` but the time settings (made beside it), after the journal was written.
    private func applyInOrder(_ steps: [Step], deferReload: Bool) throws {
        var index = steps.startIndex
        while index < steps.endIndex {
            // Starts and restarts in a row are queued together (with the owed ones, after their reload):
            // systemd runs them in the units' order.
            let planned = Array(steps[index...].prefix(while: \.isUnitJob))
            let owed = deferReload ? [] : pendingJobs
            if !planned.isEmpty && !owed.isEmpty && reloadPending { try reloadNow() }
            if !planned.isEmpty {
                if !owed.isEmpty { pendingJobs = [] }
                try runBatch(owed + planned)
                index += planned.count
                continue
            }
            let files = Self.fileBatch(steps[index...])
            if files.count > 1 {
                try performFileBatch(files)
                index += files.count
                continue
            }
            let enables = Self.enableBatch(steps[index...])
            if enables.count > 1 {
                try performEnableBatch(enables)
                index += enables.count
                continue
            }
            let step = steps[index]
            index += 1
            let started = Self.monotonicSeconds()
            if case .loadModule = step {
                // Dependencies come in with the module; journal them too so reset unloads exactly what appeared.
                let before = Set(root.list("/sys/module"))
                try perform(step)
                let appeared = Set(root.list("/sys/module")).subtracting(before).sorted()
                try journal.record(appeared.map { .moduleLoaded($0) })
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
        guard !deferReload else { return }
        if reloadPending { try reloadNow() }
        if !pendingJobs.isEmpty {
            let owed = pendingJobs
            pendingJobs = []
            try runBatch(owed)
        }
    }

    /// The steps at the start of `steps` that write files, or that make links, in a row, each path once:
    /// performed together, with one flush (`performFileBatch`).
    static func fileBatch(_ steps: ArraySlice<Step>) -> [Step] {
        var paths = Set<String>()
        var batch: [Step] = []
        for step in steps {
            switch (steps.first!, step) {
            case (.writeFile, .writeFile(let path, _, _)), (.link, .link(let path, _)):
                guard paths.insert(path).inserted else { return batch }
                batch.append(step)
            default:
                return batch
            }
        }
        return batch
    }

    /// The units enabled by the steps at the start of `steps`, in a row: enabled in one call (`performEnableBatch`).
    static func enableBatch(_ steps: ArraySlice<Step>) -> [String] {
        Array(steps.prefix { if case .enableUnit = $0 { return true }; return false }.compactMap { step -> String? in
            if case .enableUnit(let unit) = step { return unit }
            return nil
        })
    }

    /// Enables `units` in one call to systemd; each step's time is the call's. When the call fails none counts
    /// as performed (each was journaled ahead: reset disables whichever it finds enabled), and a reload is
    /// still owed for whatever it may have changed.
    private func performEnableBatch(_ units: [String]) throws {
        let started = Self.monotonicSeconds()
        reloadPending = true
        try services().enable(units)
        let seconds = Self.monotonicSeconds() - started
        performed += units.map { PerformedStep(step: .enableUnit($0), seconds: seconds) }
    }

    /// Writes every file of a `fileBatch` (each atomically, one syncfs for all: `HostRoot.writeAtomically(_ files:)`),
    /// or makes every link and then flushes each directory once. Each step's time runs from the batch's start
    /// to that flush, as a batch of starts' from its queueing. Per step it cost two fsyncs, or one per link.
    /// When it fails, what is in place counts as performed: the links made before the one that failed (their
    /// directories flushed, as far as they can be), and the files renamed into place before a rename or a
    /// flush failed (a file holding what the step writes: a plan writes only what differs).
    private func performFileBatch(_ batch: [Step]) throws {
        let started = Self.monotonicSeconds()
        var files: [(path: String, data: Data, mode: UInt16)] = []
        var linkDirectories = Set<String>()
        var linksInPlace: [Step] = []
        do {
            for step in batch {
                switch step {
                case .writeFile(let path, let content, let mode):
                    files.append((path, Data(content.utf8), mode ?? root.mode(path) ?? 0o644))
                case .link(let path, let target):
                    if try makeLink(path, target, durable: false) {
                        linkDirectories.insert((root.resolve(path) as NSString).deletingLastPathComponent)
                    }
                    linksInPlace.append(step)
                default:
                    preconditionFailure("a file batch holds file writes or links")
                }
            }
            if !files.isEmpty { try root.writeAtomically(files) }
            for directory in linkDirectories.sorted() { try root.syncDirectory(directory) }
        } catch {
            for directory in linkDirectories.sorted() { try? root.syncDirectory(directory) }
            let seconds = Self.monotonicSeconds() - started
            let filesInPlace = Set(files.filter { (try? root.read($0.path)) == $0.data }.map(\.path))
            performed += batch.filter { step in
                if case .writeFile(let path, _, _) = step { return filesInPlace.contains(path) }
                return linksInPlace.contains(step)
            }.map { PerformedStep(step: $0, seconds: seconds) }
            throw error
        }
        let seconds = Self.monotonicSeconds() - started
        performed += batch.map { PerformedStep(step: $0, seconds: seconds) }
    }

    /// Makes the link unless it is there; returns whether it made it. Run again after a cut: the link may
    /// already be there. Something that appeared at the path since the plan (a CNI installing its own plugin)
    /// is theirs: left, and reset leaves it too.
    private func makeLink(_ path: String, _ target: String, durable: Bool) throws -> Bool {
        guard root.readLink(path) != target else { return false }
        do { try root.makeSymlink(path, target: target, durable: durable) } catch let error as HostError where error.errnoValue == EEXIST { return false }
        return true
    }

    /// Performs `steps` but their reload and starts, and returns what that leaves owed for a later list
    /// (`require`): the reload (the list's own, or one its enables need) and the starts and restarts.
    public func applyDeferringActivation(_ steps: [Step], observed: NodeObservation) throws -> PendingActivation {
        let (now, owed) = PendingActivation.deferring(steps)
        try apply(now, observed: observed, deferReload: true)
        return owed.adding(pending)
    }

    /// Makes what this runner owes systemd while `beside` runs on the calling thread: the daemon-reload (when
    /// one is owed) on a thread of its own, then, once both ended, the owed starts and restarts in one batch.
    /// `beside` must not ask systemd: node preparation's module loads and sysctls. When `beside` fails, the
    /// reload is still waited for, the jobs stay owed (`pending`), and its error is thrown.
    public func activate(beside work: () throws -> Void) throws {
        // Write-ahead for the owed starts (a unit started is one reset stops), before anything here runs: the
        // lists that owed them ran with their activation deferred, which journals none.
        try journal.record(try pendingJobs.flatMap { try previousState(for: $0, NodeObservation()) })
        let inFlight = reloadPending ? ReloadInFlight(try services()) : nil
        var workError: (any Error)?
        do { try work() } catch { workError = error }
        if let inFlight {
            switch inFlight.finish() {
            case .success(let seconds):
                reloadPending = false
                performed.append(PerformedStep(step: .reloadSystemd, seconds: seconds))
            case .failure(let error):
                throw workError ?? error
            }
        }
        if let workError { throw workError }
        guard !pendingJobs.isEmpty else { return }
        let owed = pendingJobs
        pendingJobs = []
        try runBatch(owed)
    }

    private func reloadNow() throws {
        let started = Self.monotonicSeconds()
        try services().reload()
        reloadPending = false
        performed.append(PerformedStep(step: .reloadSystemd, seconds: Self.monotonicSeconds() - started))
    }

    /// Queues `jobs` (start and restart steps) at once; those that ended done are performed, the first
    /// failure is thrown once all have ended.
    private func runBatch(_ jobs: [Step]) throws {
        var failure: (any Error)?
        for (step, result) in zip(jobs, try services().run(jobs.compactMap(UnitJob.init))) {
            switch result {
            case .success(let seconds): performed.append(PerformedStep(step: step, seconds: seconds))
            case .failure(let error):
                failedJobs.append((step, error))
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
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
        case .writeFile(let path, let content, _):
            records += try journal.writeRecords(path, sha256: ChangeJournal.sha256(Data(content.utf8)))
        case .removeFile(let path):
            records.append(.file(path: path, previous: try root.read(path), previousMode: root.mode(path)))
        case .link(let path, let target):
            records.append(.symlink(path: path, previousTarget: root.readLink(path)))
            records.append(.linkMade(path: path, target: target))
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
            if let target = root.readLink("/etc/localtime") {
                records.append(.symlink(path: "/etc/localtime", previousTarget: target))
            } else if let bytes = try root.read("/etc/localtime") {
                // Some images ship a copy of the zone file, not a link: keep its bytes.
                records.append(.file(path: "/etc/localtime", previous: bytes, previousMode: root.mode("/etc/localtime")))
            } else {
                records.append(.symlink(path: "/etc/localtime", previousTarget: nil))
            }
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

    private func perform(_ step: Step) throws {
        switch step {
        case .createDirectory(let path, let mode):
            if !root.isDirectory(path) { try root.makeDirectory(path, mode: mode) }
        case .loadModule(let name):
            try effects.modules.load(name)
        case .removeFile(let path):
            try root.remove(path)
            // A certs.d/<registry> directory goes with its last file.
            let directory = (path as NSString).deletingLastPathComponent
            if (directory as NSString).deletingLastPathComponent == NodePaths.containerdCertsDir {
                _ = try root.removeDirectoryIfEmpty(directory)
            }
        case .link(let path, let target):
            _ = try makeLink(path, target, durable: true)
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
        case .setTimezone, .setLocalRTC:
            preconditionFailure("time settings are made by TimeSettingsInFlight")
        case .enableUnit(let unit): try services().enable([unit])
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
}
