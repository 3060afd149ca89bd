import Foundation
import KubeSeedCore
import KubeSeedHost

/// What node preparation's phases share: one step runner (its `performed` is the run's changes), the
/// latest observation and the plan made from it.
final class NodePrepRun {
    let operations: AgentOperations
    let applier: StepRunner
    var observed: NodeObservation
    var plan: NodePlan
    /// Leave the daemon-reload to the caller (the agent's pass folds it into the components' one).
    let deferReload: Bool
    /// Leave the time settings running for the caller to wait for (the agent's pass, after its components).
    let leaveTimeSettingsRunning: Bool
    /// Leave the module loads and sysctls to the caller (`KernelStepsHandOff`): the agent's pass makes them
    /// beside its daemon-reload.
    let leaveKernelSteps: Bool

    init(operations: AgentOperations, applier: StepRunner, observed: NodeObservation, plan: NodePlan, deferReload: Bool,
         leaveTimeSettingsRunning: Bool = false, leaveKernelSteps: Bool = false) {
        self.operations = operations
        self.applier = applier
        self.observed = observed
        self.plan = plan
        self.deferReload = deferReload
        self.leaveTimeSettingsRunning = leaveTimeSettingsRunning
        self.leaveKernelSteps = leaveKernelSteps
    }

    /// Loads the plan's modules on `runner`; when any loads, the modules and sysctls are observed again and
    /// the host planned again: the sysctls they bring appear with them. Returns how many it loaded.
    func loadModules(on runner: StepRunner) throws -> Int {
        let steps = plan.steps.filter(\.isModuleLoad)
        try runner.apply(steps, observed: observed, deferReload: true)
        guard !steps.isEmpty else { return 0 }
        observed = operations.observer.afterModuleLoads(observed, operations.settings)
        plan = NodePlanner.plan(operations.settings, observed)
        return steps.count
    }
}

/// Node preparation's module loads and sysctls, left by `AgentOperations.apply(leaveKernelSteps: true)` for
/// the caller to make on its own step runner: they need nothing from systemd, so the agent's pass makes
/// them beside its daemon-reload (`StepRunner.activate(beside:)`).
public final class KernelStepsHandOff {
    private let run: NodePrepRun

    init(_ run: NodePrepRun) { self.run = run }

    /// The steps left, as planned before the modules load (a sysctl a module brings is among them).
    public var steps: [Step] { run.plan.steps.filter(\.isKernelStep) }

    /// Loads the modules, observes the kernel again, and sets the sysctls, on `runner` (the caller's session).
    public func make(on runner: StepRunner) throws {
        _ = try run.loadModules(on: runner)
        // The rest of the plan was made by node preparation already; this observation is older than it.
        try runner.apply(run.plan.steps.filter(\.isSysctl), observed: run.observed, deferReload: true)
    }
}

/// One phase of node preparation (`seed-agent apply`, and the first phases of the agent's pass and of
/// `seed init`), run by the same `PhaseRunner` as every command's phases.
struct NodePrepPhase: CommandPhase {
    var name: String
    let body: @Sendable (NodePrepRun) throws -> PhaseResult

    func skipReason(_ run: NodePrepRun) -> String? { nil }
    func run(_ run: NodePrepRun) async throws -> PhaseResult { try body(run) }

    static let all: [NodePrepPhase] = [.modules, .settings]

    /// The kernel modules (`NodePrepRun.loadModules`), unless they are left to the caller.
    /// The time settings start first, on their own thread; the settings phase waits for them.
    static let modules = NodePrepPhase(name: "modules") { run in
        let steps = run.plan.steps.filter(\.isModuleLoad)
        // Module loads left to the caller are journaled by the list that makes them, not long before.
        try run.applier.journalAhead(run.plan.steps.filter(\.isTimeSetting) + (run.leaveKernelSteps ? [] : steps), observed: run.observed)
        // The time settings need nothing node preparation makes: timedated starts meanwhile.
        try run.applier.startTimeSettings(run.plan.steps, observed: run.observed)
        if run.leaveKernelSteps && !steps.isEmpty {
            return PhaseResult(state: .waiting, detail: "\(steps.count) to load beside the reload")
        }
        let loaded = try run.loadModules(on: run.applier)
        guard loaded > 0 else { return PhaseResult(state: .ok, detail: "loaded") }
        return PhaseResult(state: .changed, detail: "\(loaded) loaded", changes: loaded)
    }

    /// Everything else: sysctls (unless left to the caller), swap, SELinux, time, directories, and the units
    /// masked or enabled; then the time settings are waited for, unless the caller waits for them.
    static let settings = NodePrepPhase(name: "settings") { run in
        let before = run.applier.performed.count
        let steps = run.plan.steps.filter { run.leaveKernelSteps ? !$0.isKernelStep : !$0.isModuleLoad }
        try run.applier.apply(steps, observed: run.observed, deferReload: run.deferReload)
        if !run.leaveTimeSettingsRunning { try run.applier.finishTimeSettings() }
        let changes = run.applier.performed.count - before
        return PhaseResult(state: changes == 0 ? .ok : .changed, detail: "", changes: changes)
    }
}
