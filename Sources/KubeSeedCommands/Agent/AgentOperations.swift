import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

/// The agent's operations, independent of argument parsing, so tests drive them against a
/// temporary root with fake effects. Each returns the text to print and an exit code.
public struct AgentOperations {
    public var root: HostRoot
    public var effects: HostEffects
    public var settings: NodePrepSettings
    public var effectiveUID: UInt32
    /// Where this agent's sessions take the lock (not waiting for it: a pass that finds it taken is
    /// retried) and keep the journal.
    public var location = HostSession.Location()
    /// Opens the client that asks the API server which API servers there are: mutual TLS; unit tests give in-memory ones.
    public var connect: APIConnect = MutualTLSClient.connect

    public init(root: HostRoot, effects: HostEffects, settings: NodePrepSettings, effectiveUID: UInt32) {
        self.root = root
        self.effects = effects
        self.settings = settings
        self.effectiveUID = effectiveUID
    }

    public struct Outcome {
        public var output: String
        public var exitCode: Int32
        /// Steps that changed the host (apply) — 0 on an unchanged run.
        public var changes: Int = 0
        /// A daemon-reload `apply(deferReload: true)` left to the caller.
        public var reloadPending = false
        /// A failure that may pass by itself when tried again (the error says so).
        public var retryable = false
        /// Time settings `apply(leaveTimeSettingsRunning: true)` left running, for the caller to wait for.
        public var timeSettings: TimeSettingsHandOff?
        /// Module loads and sysctls `apply(leaveKernelSteps: true)` left for the caller to make.
        public var kernelSteps: KernelStepsHandOff?
    }

    /// Observes this host for node preparation (the phases observe again after modules load).
    var observer: NodeObserver { NodeObserver(root: root, effects: effects, effectiveUID: effectiveUID) }

    /// Read-only preflight.
    public func check(json: Bool) -> Outcome {
        let plan = NodePlanner.plan(settings, observer.observe(settings))
        let text = json ? Report.json(plan.items) : Report.table(plan.items) + Report.summary(plan.items) + "\n"
        return Outcome(output: text, exitCode: plan.hasFailures ? 1 : 0)
    }

    /// Prepares the node: the phases of `NodePrepPhase.all` (modules first, then, re-observed since their
    /// sysctls appear with them, the rest), after a plan with nothing blocking.
    /// - Parameters:
    ///   - session: the caller's session (the agent's pass, `seed init`); one is opened here when `nil`.
    ///   - observed: an observation the caller just made with these settings, to reuse.
    ///   - deferReload: leave the daemon-reload that masks and enables need to the caller
    ///     (`Outcome.reloadPending`), which folds it into its own.
    ///   - leaveTimeSettingsRunning: on success, leave the time settings (timedated's calls) running for the
    ///     caller to wait for (`Outcome.timeSettings`) in its `session`: the agent's pass lets them run beside
    ///     its components. Without the caller's session they are waited for here, before the lock is let go.
    ///   - leaveKernelSteps: on success, leave the module loads and sysctls to the caller (`Outcome.kernelSteps`),
    ///     which makes them in its `session` beside its daemon-reload; everything else is made here. Without the
    ///     caller's session they are made here.
    public func apply(in session: HostSession? = nil, observed: NodeObservation? = nil, deferReload: Bool = false,
                      leaveTimeSettingsRunning: Bool = false, leaveKernelSteps: Bool = false) async -> Outcome {
        let started = Date()
        var out = ""
        let first = observed ?? observer.observe(settings)
        let firstPlan = NodePlanner.plan(settings, first)
        let blocking = firstPlan.blockingFailures
        if !blocking.isEmpty {
            out += "seed-agent apply: nothing changed; fix these first:\n"
            out += blocking.map { "  \($0.name): \($0.detail)\n" }.joined()
            // What blocks (a package not installed) passes once the operator installs it.
            return Outcome(output: out, exitCode: 1, retryable: true)
        }
        guard let session else {
            do {
                return try await HostSession.with(root, effects: effects, at: location) { session in
                    await apply(in: session, observed: first, deferReload: deferReload)
                }
            } catch let error as HostSession.OpenError where error.part == .lock {
                return Outcome(output: "seed-agent apply: \(error)\n", exitCode: 1, retryable: error.isRetryable)
            } catch {
                return Outcome(output: "seed-agent apply: nothing changed: \(error)\n", exitCode: 1)
            }
        }
        let run = NodePrepRun(operations: self, applier: session.runner(), observed: first, plan: firstPlan, deferReload: deferReload,
                              leaveTimeSettingsRunning: leaveTimeSettingsRunning, leaveKernelSteps: leaveKernelSteps)
        let applier = run.applier
        do {
            try await PhaseRunner.run(NodePrepPhase.all, run)
        } catch {
            let underlying = (error as? PhaseFailure)?.underlying ?? error
            // Started ahead of the phase that failed: what they made is part of what was done.
            try? applier.finishTimeSettings()
            out += applier.performed.map { "  changed  \($0)\n" }.joined()
            // A time setting that failed beside the step that stopped the run: said too, not only the first error.
            out += Self.failedTimeSettingLines(applier, besides: "\(underlying)")
            out += "seed-agent apply: failed after \(applier.performed.count) changes: \(underlying)\n"
            out += "  every change so far is journaled; run 'seed-agent apply' again to finish, or 'seed-agent reset' to undo\n"
            // Units it enabled or disabled before the failure still need the caller's reload.
            return Outcome(output: out, exitCode: 1, changes: applier.performed.count, reloadPending: applier.reloadPending,
                           retryable: Self.isRetryable(underlying))
        }
        let millis = Int(Date().timeIntervalSince(started) * 1000)
        let timeSettings = applier.handOverTimeSettings()
        let kernelSteps = leaveKernelSteps ? KernelStepsHandOff(run) : nil
        let left = kernelSteps?.steps ?? []
        out += applier.performed.map { "  changed  \($0)\n" }.joined()
        // What is still to come is said: a pass whose only change is the time zone must not read "unchanged".
        var running = timeSettings.map { "; still running: " + $0.steps.map(\.description).joined(separator: ", ") } ?? ""
        if !left.isEmpty {
            running += "; beside the reload: \(left.filter(\.isModuleLoad).count) module loads, \(left.filter(\.isSysctl).count) sysctls"
        }
        if applier.performed.isEmpty && running.isEmpty {
            out += "seed-agent apply: unchanged: node already prepared (0 changes, \(millis) ms)\n"
        } else {
            out += "seed-agent apply: \(applier.performed.count) changes in \(millis) ms\(running)\n"
        }
        return Outcome(output: out, exitCode: 0, changes: applier.performed.count, reloadPending: applier.reloadPending,
                       timeSettings: timeSettings, kernelSteps: left.isEmpty ? nil : kernelSteps)
    }

    /// `  failed   …` lines for the time settings `runner` kept as failed, but the one whose error the caller
    /// already reports (`said`): one failing beside another step's failure is said too.
    static func failedTimeSettingLines(_ runner: StepRunner, besides said: String?) -> String {
        runner.failedTimeSettings.filter { "\($0.error)" != said }.map { "  failed   \($0.step): \($0.error)\n" }.joined()
    }

    /// Restores what the journal says was there before.
    /// - Parameter session: the caller's session (reset on a master, which leaves etcd first); one is opened here when `nil`.
    public func reset(in session: HostSession? = nil) -> Outcome {
        if effectiveUID != 0 {
            return Outcome(output: "seed-agent reset: must run as root\n", exitCode: 1)
        }
        guard let session else {
            do {
                return try HostSession.with(root, effects: effects, at: location) { reset(in: $0) }
            } catch {
                return Outcome(output: "seed-agent reset: \(error)\n", exitCode: 1)
            }
        }
        do {
            let journal = session.journal
            try journal.reload()
            if journal.records.isEmpty {
                return Outcome(output: "seed-agent reset: nothing to restore (no journal at \(location.journalPath))\n", exitCode: 0)
            }
            // A running agent would notice the files going away and prepare the node again.
            let stopped = try stopAgentUnits()
            let outcome = try HostReset(root: root, effects: effects, journal: journal).run()
            var out = stopped.map { "  stopped   \($0) (so the agent does not redo what reset undoes)\n" }.joined()
            out += outcome.restored.map { "  restored  \($0)\n" }.joined()
            out += outcome.leftAsIs.map { "  left      \($0)\n" }.joined()
            out += outcome.failed.map { "  FAILED    \($0)\n" }.joined()
            if outcome.failed.isEmpty {
                out += "seed-agent reset: done (\(outcome.restored.count) restored, \(outcome.leftAsIs.count) left as is)\n"
                return Outcome(output: out, exitCode: 0, changes: outcome.restored.count)
            }
            out += "seed-agent reset: \(outcome.failed.count) items could not be restored; they stay in the journal — fix the cause and run reset again\n"
            return Outcome(output: out, exitCode: 1, changes: outcome.restored.count)
        } catch {
            return Outcome(output: "seed-agent reset: \(error)\n", exitCode: 1)
        }
    }

    /// Stops `seed-agent.path` and `seed-agent.service` when they are active; returns what it stopped.
    func stopAgentUnits() throws -> [String] {
        guard let services = effects.services else { return [] }
        var stopped: [String] = []
        for unit in ["seed-agent.path", "seed-agent.service"] where try services.unitState(unit).isActive {
            try services.stop(unit)
            stopped.append(unit)
        }
        return stopped
    }

    /// Loads settings from the agent config; a missing file at the default path means defaults.
    public static func loadSettings(root: HostRoot, path: String?, defaultPath: String = AgentConfig.defaultPath) throws -> NodePrepSettings {
        let file = path ?? defaultPath
        guard let data = try root.read(file) else {
            if path != nil { throw ConfigError(.unreadable, file: file, "no such file") }
            return NodePrepSettings()
        }
        if data.count > YAMLField.maxBytes {
            throw ConfigError(.tooLarge, file: file, "file is \(data.count) bytes; the limit is \(YAMLField.maxBytes)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(.unreadable, file: file, "not UTF-8 text")
        }
        return try AgentConfig.parse(text, file: file)
    }
}
