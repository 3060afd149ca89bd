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

    init(operations: AgentOperations, applier: StepRunner, observed: NodeObservation, plan: NodePlan, deferReload: Bool,
         leaveTimeSettingsRunning: Bool = false) {
        self.operations = operations
        self.applier = applier
        self.observed = observed
        self.plan = plan
        self.deferReload = deferReload
        self.leaveTimeSettingsRunning = leaveTimeSettingsRunning
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

    /// The kernel modules; when any loads, the modules and sysctls are observed again and the host planned
    /// again: the sysctls they bring appear with them.
    /// The time settings start first, on their own thread; the settings phase waits for them.
    static let modules = NodePrepPhase(name: "modules") { run in
        let steps = run.plan.steps.filter(\.isModuleLoad)
        try run.applier.journalAhead(run.plan.steps.filter(\.isTimeSetting) + steps, observed: run.observed)
        // The time settings need nothing node preparation makes: timedated starts meanwhile.
        try run.applier.startTimeSettings(run.plan.steps, observed: run.observed)
        try run.applier.apply(steps, observed: run.observed, deferReload: true)
        guard !steps.isEmpty else { return PhaseResult(state: .ok, detail: "loaded") }
        let agent = run.operations
        run.observed = agent.observer.afterModuleLoads(run.observed, agent.settings)
        run.plan = NodePlanner.plan(agent.settings, run.observed)
        return PhaseResult(state: .changed, detail: "\(steps.count) loaded", changes: steps.count)
    }

    /// Everything else: sysctls, swap, SELinux, time, directories, and the units masked or enabled; then
    /// the time settings are waited for, unless the caller waits for them.
    static let settings = NodePrepPhase(name: "settings") { run in
        let before = run.applier.performed.count
        try run.applier.apply(run.plan.steps.filter { !$0.isModuleLoad }, observed: run.observed, deferReload: run.deferReload)
        if !run.leaveTimeSettingsRunning { try run.applier.finishTimeSettings() }
        let changes = run.applier.performed.count - before
        return PhaseResult(state: changes == 0 ? .ok : .changed, detail: "", changes: changes)
    }
}
