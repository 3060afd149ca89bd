import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// One phase of `seed init`, in the manner of kubeadm's workflow phases: `seed init` runs the whole
/// list (less `--skip-phases`), `seed init phase NAME`, `seed pki` and `seed etcd` run phases from the
/// same list with the same parameters, and a control-plane join is another list over the same phases.
/// A phase says when it runs (`runIf`), as kubeadm's `workflow.Phase.RunIf`; its body only does the work.
struct InitPhase: Sendable {
    /// What the phase did.
    struct Result {
        enum State: String { case ok, changed, waiting, skipped }
        var state: State
        var detail: String
        var changes = 0
    }

    var name: String
    /// Whether the phase needs the master's node name (the PKI does not).
    var needsMasterName = true
    /// Why the phase does not run in this context (`nil`: it runs). It is printed as the phase's
    /// `skipped` line.
    var skipReason: @Sendable (InitContext) -> String? = { _ in nil }
    var run: @Sendable (MasterOperations, InitContext) async throws -> Result

    /// The phase's name on the command line (`seed init phase NAME`, `--skip-phases`): words joined by `-`.
    var commandName: String { name.replacingOccurrences(of: " ", with: "-") }

    /// Runs only once the control plane could start (its binaries are there).
    static let needsAPIServer: @Sendable (InitContext) -> String? = { context in
        context.controlPlaneStarted ? nil : "needs the API server"
    }

    /// The phases of `list` to run: those named in `only` (all when `nil`) less those in `skipping`, in
    /// `list`'s order. A name that is not a phase of `list` is refused, naming the phases there are.
    static func select(from list: [InitPhase], only: [String]?, skipping: [String]) throws -> [InitPhase] {
        let names = list.map(\.commandName)
        for (option, given) in [("phase NAME", only ?? []), ("--skip-phases", skipping)] {
            if let unknown = given.first(where: { !names.contains($0) }) {
                throw ConfigError(.invalidValue, file: option, "\(Validate.shown(unknown)) is not a phase; the phases are: \(names.joined(separator: ", "))")
            }
        }
        let selected = list.filter { (only?.contains($0.commandName) ?? true) && !skipping.contains($0.commandName) }
        guard !selected.isEmpty else { throw ConfigError(.invalidValue, file: "--skip-phases", "leaves no phase to run") }
        return selected
    }

    /// Runs only in `seed join`.
    static let onlyInAJoin: @Sendable (InitContext) -> String? = { context in
        context.joining == nil ? "not a join" : nil
    }
}

/// What the phases of one run share: the resolved configuration, the host session (its lock held and its
/// journal loaded once, for everything that changes the host), and what earlier phases found.
final class InitContext {
    let config: ClusterConfig
    let masterIP: String
    let cluster: ControlPlane.Cluster
    let session: HostSession
    var replaceBinaries = false
    /// Set by the control-plane phase: the units could start (their binaries are there).
    var controlPlaneStarted = false
    /// `seed join`: what was checked and opened before anything changed.
    var joining: ControlPlaneJoinState?

    init(config: ClusterConfig, masterIP: String, session: HostSession) {
        self.config = config
        self.masterIP = masterIP
        self.cluster = config.controlPlaneCluster(masterIP: masterIP)
        self.session = session
    }

    /// The session's change journal.
    var journal: ChangeJournal { session.journal }
}

/// A phase that failed, with the error that made it fail.
struct PhaseFailure: Error, CustomStringConvertible {
    var phase: String
    var underlying: any Error
    var description: String { "\(phase): \(underlying)" }
}

/// Prints `[n/N] phase  state  detail (ms)` as each phase ends, and counts changes.
final class PhaseProgress {
    let total: Int
    let write: (String) -> Void
    var index = 0
    var changes = 0

    init(total: Int, write: @escaping (String) -> Void) {
        self.total = total
        self.write = write
    }

    func run(_ phase: InitPhase, _ operations: MasterOperations, _ context: InitContext) async throws {
        index += 1
        let clock = ContinuousClock()
        let started = clock.now
        let label = "  [\(index)/\(total)] " + phase.name.padding(toLength: 16, withPad: " ", startingAt: 0)
        do {
            let result: InitPhase.Result
            if let reason = phase.skipReason(context) {
                result = InitPhase.Result(state: .skipped, detail: reason)
            } else {
                result = try await phase.run(operations, context)
            }
            changes += result.changes
            let elapsed = clock.now - started
            write(label + result.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + result.detail + " (\(elapsed.milliseconds) ms)\n")
        } catch {
            write(label + "FAILED   \(error)\n")
            throw PhaseFailure(phase: phase.name, underlying: error)
        }
    }
}

extension PKIParameters {
    /// The PKI a cluster configuration asks for: the master's IP for the API server and etcd, the
    /// service range and domain, and `extraSANs` (IPs and names) on the API server certificate.
    init(_ config: ClusterConfig) {
        let masterIPs = config.masterIP.map { [$0] } ?? []
        self.init(masterIPs: masterIPs, etcdIPs: masterIPs, serviceCIDR: config.serviceCIDR, clusterDomain: config.clusterDomain)
        extraAPIServerIPs = config.extraSANs.filter(IPAddress.isValid)
        extraAPIServerNames = config.extraSANs.filter { !IPAddress.isValid($0) }
    }
}
