import Foundation

/// What a phase did.
struct PhaseResult {
    enum State: String { case ok, changed, waiting, skipped }
    var state: State
    var detail: String
    var changes = 0
}

/// One phase of a command, in the manner of kubeadm's workflow phases: a name, when it runs
/// (`skipReason`, as kubeadm's `workflow.Phase.RunIf`), and a body that only does the work. `seed init`
/// and `seed join` are lists of `InitPhase`s, the agent's pass a list of `AgentPhase`s; `PhaseRunner`
/// runs every such list.
protocol CommandPhase: Sendable {
    /// What the phases of one run share.
    associatedtype Context
    var name: String { get }
    /// Why the phase does not run in this context (`nil`: it runs); reported as its `skipped` result.
    func skipReason(_ context: Context) -> String?
    func run(_ context: Context) async throws -> PhaseResult
}

extension CommandPhase {
    /// The phase's name on the command line (`seed init phase NAME`, `--skip-phases`): words joined by `-`.
    var commandName: String { name.replacingOccurrences(of: " ", with: "-") }
}

/// A phase that failed, with the error that made it fail.
struct PhaseFailure: Error, CustomStringConvertible {
    var phase: String
    var underlying: any Error
    var description: String { "\(phase): \(underlying)" }
}

/// Runs a list of phases in order on one context: each is skipped when it says so, or run; the first
/// that throws stops the list.
enum PhaseRunner {
    /// How a phase ended: its result (a skip included) or the error that stopped the list, and its time.
    typealias Report<Phase: CommandPhase> = (_ index: Int, _ phase: Phase, _ outcome: Result<PhaseResult, any Error>, _ elapsed: Duration) -> Void

    /// Runs `phases` on `context`; `report` hears of each as it ends. Throws `PhaseFailure` naming the
    /// phase that failed. Returns the changes the phases made.
    @discardableResult
    static func run<Phase: CommandPhase>(_ phases: [Phase], _ context: Phase.Context, report: Report<Phase> = { _, _, _, _ in }) async throws -> Int {
        let clock = ContinuousClock()
        var changes = 0
        for (index, phase) in phases.enumerated() {
            let started = clock.now
            do {
                let result = if let reason = phase.skipReason(context) { PhaseResult(state: .skipped, detail: reason) } else { try await phase.run(context) }
                changes += result.changes
                report(index, phase, .success(result), clock.now - started)
            } catch {
                report(index, phase, .failure(error), clock.now - started)
                throw PhaseFailure(phase: phase.name, underlying: error)
            }
        }
        return changes
    }
}
