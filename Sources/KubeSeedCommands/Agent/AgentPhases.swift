import Foundation
import KubeSeedCore
import KubeSeedHost

/// What the phases of one agent pass share: the join file (read and checked before anything is
/// opened), the session, and what earlier phases found and did.
final class AgentPass {
    /// The agent, its node preparation taken from the join file.
    let operations: AgentOperations
    let join: JoinFile
    let joinPath: String
    let session: HostSession
    var observed = NodeObservation()
    var node: NodeIdentity?
    /// The `  changed  …` lines of the pass so far.
    var output = ""
    var changes = 0
    /// The daemon-reload owed to the components' steps (node preparation's, or the caller's), and the caller's
    /// starts that follow it, until the components' steps make them.
    var pending: PendingActivation
    /// The caller's owed starts that did not end `done`, each with why.
    var failedOwedJobs: [String] = []
    var plan: NodePlan?
    var images: Result<ImageImporter.Outcome, any Error>?
    /// Node preparation's time settings, still running: the components' steps run beside them.
    var timeSettings: TimeSettingsHandOff?
    /// Node preparation's module loads and sysctls, made beside the components' daemon-reload.
    var kernelSteps: KernelStepsHandOff?

    init(operations: AgentOperations, join: JoinFile, joinPath: String, session: HostSession, pending: PendingActivation = PendingActivation()) {
        self.operations = operations
        self.join = join
        self.joinPath = joinPath
        self.session = session
        self.pending = pending
    }
}

/// Why a pass stopped: the check that failed (a phase's name, or a plan item's such as `containerd`),
/// why, and whether a fresh try may pass by itself (worth a restart of the agent).
struct AgentPassFailure: Error {
    var name: String
    var reason: String
    var retryable: Bool

    init(_ name: String, _ reason: String, retryable: Bool) {
        self.name = name
        self.reason = reason
        self.retryable = retryable
    }
}

/// One phase of the agent's pass (a `CommandPhase`, run by the same `PhaseRunner` as `seed init`'s).
struct AgentPhase: CommandPhase {
    var name: String
    let body: @Sendable (AgentPass) async throws -> PhaseResult

    func skipReason(_ pass: AgentPass) -> String? { nil }
    func run(_ pass: AgentPass) async throws -> PhaseResult { try await body(pass) }

    /// The pass after the join file was read, in order.
    static let pass: [AgentPhase] = [.nodeIdentity, .nodePreparation, .components, .images]

    /// The node's name and IP (observed once: the observation serves node preparation's plan too).
    static let nodeIdentity = AgentPhase(name: "node identity") { pass in
        let agent = pass.operations
        pass.observed = agent.observer.observe(agent.settings)
        do { pass.node = try agent.nodeIdentity(pass.join, pass.observed, joinPath: pass.joinPath) } catch {
            throw AgentPassFailure("node identity", "\(error); nothing changed", retryable: AgentOperations.isRetryable(error))
        }
        return PhaseResult(state: .ok, detail: "\(pass.node!.name) \(pass.node!.ip)")
    }

    /// `seed-agent apply` with the join file's settings; its daemon-reload is folded into the components' one,
    /// and its module loads and sysctls are made beside that reload.
    static let nodePreparation = AgentPhase(name: "node preparation") { pass in
        let prepared = await pass.operations.apply(in: pass.session, observed: pass.observed, deferReload: true, leaveTimeSettingsRunning: true,
                                                   leaveKernelSteps: true)
        pass.output += prepared.output
        pass.changes += prepared.changes
        pass.pending.reload = pass.pending.reload || prepared.reloadPending
        pass.timeSettings = prepared.timeSettings
        pass.kernelSteps = prepared.kernelSteps
        if prepared.exitCode != 0 { throw AgentPassFailure("node preparation", "see the output above", retryable: prepared.retryable) }
        return PhaseResult(state: prepared.changes == 0 ? .ok : .changed, detail: "", changes: prepared.changes)
    }

    /// containerd, the API balancer, the kubelet and kube-proxy: their files and units, planned from what is
    /// there; then the daemon-reload with node preparation's module loads and sysctls made beside it, and one
    /// batch of starts. Node preparation's time settings run on beside all of it and are waited for at the end.
    static let components = AgentPhase(name: "components") { pass in
        let agent = pass.operations
        let node = pass.node!
        let files = NodeComponents.files(pass.join, node)
        let applier = pass.session.runner()
        let owed = pass.pending.jobs
        applier.require(pass.pending)
        // A blocking plan item (containerd not installed) passes once the operator installs it: retry.
        var failure: AgentPassFailure?
        applier.takeOverTimeSettings(pass.timeSettings)
        pass.timeSettings = nil
        do {
            var observed = try ComponentObserver(root: agent.root, services: agent.effects.services).observe(files, cniLayout: true)
            observed.ownedFiles = AgentOperations.ownedFiles(in: pass.session.journal, under: NodePaths.containerdCertsDir, root: agent.root)
            let planned = ComponentPlanner.plan(files, observed)
            if let blocking = planned.blockingFailures.first { failure = AgentPassFailure(blocking.name, blocking.detail, retryable: true) } else { pass.plan = planned }
        } catch {
            failure = AgentPassFailure("components", "\(error)", retryable: AgentOperations.isRetryable(error))
        }
        // Without a plan this still makes node preparation's kernel steps, the reload it left pending, and the
        // caller's starts.
        let kernelSteps = pass.kernelSteps
        pass.kernelSteps = nil
        var kernelError: (any Error)?
        func makeKernelSteps() throws {
            do { try kernelSteps?.make(on: applier) } catch {
                kernelError = error
                throw error
            }
        }
        let (now, componentJobs) = PendingActivation.deferring(pass.plan?.steps ?? [])
        var componentsWritten = false
        do {
            try applier.apply(now, observed: pass.observed, deferReload: true)
            componentsWritten = true
        } catch {
            failure = failure ?? AgentPassFailure("components", "\(error)", retryable: AgentOperations.isRetryable(error))
        }
        do {
            if componentsWritten {
                applier.require(componentJobs)
                try applier.activate(beside: makeKernelSteps)
            } else {
                // Node preparation is still finished; the reload and the caller's starts stay owed, as after any failed step.
                try makeKernelSteps()
            }
        } catch {
            if kernelError != nil, failure != nil { pass.output += "  failed   node preparation: \(error)\n" }
            failure = failure ?? AgentPassFailure(kernelError == nil ? "components" : "node preparation", "\(error)",
                                                  retryable: AgentOperations.isRetryable(error))
        }
        var saidTimeError: String?
        do { try applier.finishTimeSettings() } catch {
            // Behind another failure it is kept (failedTimeSettings) and said as a `failed` line below.
            if failure == nil {
                let failed = applier.failedTimeSettings.first.map { "\($0.step): " } ?? ""
                saidTimeError = "\(error)"
                failure = AgentPassFailure("node preparation", failed + "\(error)", retryable: AgentOperations.isRetryable(error))
            }
        }
        pass.pending = applier.pending
        if kernelError != nil {
            // Not started on a half-prepared kernel, nor left for the caller to start (seed init settles what is
            // owed): the next pass plans them again from the host. The caller's own stay owed.
            pass.pending.jobs = pass.pending.jobs.filter { owed.contains($0) }
        }
        pass.failedOwedJobs = applier.failedJobs.filter { owed.contains($0.step) }.map { "\($0.step): \($0.error)" }
        pass.output += applier.performed.map { "  changed  \($0)\n" }.joined()
        pass.output += AgentOperations.failedTimeSettingLines(applier, besides: saidTimeError)
        pass.changes += applier.performed.count
        if let failure { throw failure }
        return PhaseResult(state: applier.performed.isEmpty ? .ok : .changed, detail: "", changes: applier.performed.count)
    }

    /// Image archives dropped in the images directory, imported last: containerd runs with its configuration by now.
    static let images = AgentPhase(name: "images") { pass in
        guard let store = pass.operations.effects.images else { return PhaseResult(state: .skipped, detail: "containerd cannot be asked here") }
        let importer = ImageImporter(root: pass.operations.root, store: store)
        guard !importer.archives().isEmpty else { return PhaseResult(state: .ok, detail: "no archive") }
        pass.images = Result { try importer.run(journal: pass.session.journal) }
        guard case .success(let outcome) = pass.images else { return PhaseResult(state: .waiting, detail: "containerd could not be asked") }
        pass.output += outcome.imported.map { "  changed  imported the images in \(ImageArchives.directory)/\($0)\n" }.joined()
        pass.changes += outcome.imported.count
        return PhaseResult(state: outcome.imported.isEmpty ? .ok : .changed, detail: outcome.summary, changes: outcome.imported.count)
    }
}
