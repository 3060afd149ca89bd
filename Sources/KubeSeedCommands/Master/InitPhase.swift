import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// One phase of `seed init` (a `CommandPhase`): `seed init` runs the whole list (less `--skip-phases`),
/// `seed init phase NAME`, `seed pki` and `seed etcd` run phases from the same list with the same
/// parameters, and a control-plane join is another list over the same phases.
struct InitPhase: CommandPhase {
    typealias Result = PhaseResult

    var name: String
    /// Whether the phase needs the master's node name (the PKI does not).
    var needsMasterName: Bool
    private let skipWhen: @Sendable (InitContext) -> String?
    private let body: @Sendable (MasterOperations, InitContext) async throws -> Result

    init(name: String, needsMasterName: Bool = true, skipReason: @escaping @Sendable (InitContext) -> String? = { _ in nil },
         run: @escaping @Sendable (MasterOperations, InitContext) async throws -> Result) {
        self.name = name
        self.needsMasterName = needsMasterName
        self.skipWhen = skipReason
        self.body = run
    }

    func skipReason(_ context: InitContext) -> String? { skipWhen(context) }
    func run(_ context: InitContext) async throws -> Result { try await body(context.operations, context) }

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

    /// Phases that may defer their reload (node preparation's masks and enables) and starts to the
    /// master-as-node phase.
    static let deferringActivation = [InitPhase.node.name, InitPhase.etcd.name, InitPhase.controlPlane.name]
    /// Phases that neither start a unit nor wait for one.
    static let unitFree = [InitPhase.pki.name, InitPhase.binaries.name, InitPhase.rootKubectl.name, InitPhase.record.name]

    /// Whether `phase` may leave its reload and starts to the master-as-node phase of this run: that phase
    /// comes later, and every phase between them defers too or neither starts nor waits for a unit.
    static func foldsActivationIntoNode(_ phase: String, in run: [String]) -> Bool {
        guard deferringActivation.contains(phase), let at = run.firstIndex(of: phase),
              let node = run.firstIndex(of: InitPhase.masterNode.name), node > at else { return false }
        return run[(at + 1)..<node].allSatisfy { deferringActivation.contains($0) || unitFree.contains($0) }
    }

    /// Runs only in `seed join`.
    static let onlyInAJoin: @Sendable (InitContext) -> String? = { context in
        context.joining == nil ? "not a join" : nil
    }
}

/// What the phases of one run share: the resolved configuration, the host session (its lock held and its
/// journal loaded once, for everything that changes the host), and what earlier phases found.
final class InitContext {
    let operations: MasterOperations
    let config: ClusterConfig
    let masterIP: String
    let cluster: ControlPlane.Cluster
    let session: HostSession
    var replaceBinaries = false
    /// Set by the control-plane phase: the units could start (their binaries are there).
    var controlPlaneStarted = false
    /// `seed join`: what was checked and opened before anything changed.
    var joining: ControlPlaneJoinState?
    /// `seed certs renew`: which certificates to renew; the renewal phase sets `renewed`.
    var renewing: CertificateSelection?
    var renewed: [String] = []
    /// `seed upgrade apply`: the controller manager and scheduler wait for every API server to run the release.
    var controllersWaiting = false
    /// Units a phase of this run restarted already (a later restart of the same unit is not needed).
    var restartedUnits = Set<String>()
    /// A daemon-reload owed for unit files a phase wrote, and the starts that follow it: the master-as-node
    /// phase folds them into the node's own reload and batch of starts, and the run makes them at its end
    /// if no phase did.
    var pending = PendingActivation()
    /// The names of this run's phases, in order.
    var phaseNames: [String] = []

    /// Whether `phase` leaves its reload and starts to this run's master-as-node phase.
    func foldsActivationIntoNode(_ phase: InitPhase) -> Bool { InitPhase.foldsActivationIntoNode(phase.name, in: phaseNames) }

    /// Whether a run that stopped at `failed` may owe a reload `pending` does not hold: a phase that defers
    /// ran (or was running) and the master-as-node phase had not taken over what it left.
    func mayOweUnseenReload(failedAt failed: String) -> Bool {
        guard let at = phaseNames.firstIndex(of: failed), let node = phaseNames.firstIndex(of: InitPhase.masterNode.name), at <= node else { return false }
        return phaseNames[...at].contains { InitPhase.foldsActivationIntoNode($0, in: phaseNames) }
    }
    /// The PKI's new keys, made while the phases before the pki phase run.
    var prefetchedKeys: PrefetchedKeys?

    init(operations: MasterOperations, config: ClusterConfig, masterIP: String, session: HostSession) {
        self.operations = operations
        self.config = config
        self.masterIP = masterIP
        self.cluster = config.controlPlaneCluster(masterIP: masterIP)
        self.session = session
    }

    /// The session's change journal.
    var journal: ChangeJournal { session.journal }
}

/// Prints `[n/N] phase  state  detail (ms)` as each phase ends (`PhaseRunner`'s report), and counts changes.
final class PhaseProgress {
    let total: Int
    let write: (String) -> Void
    var changes = 0

    init(total: Int, write: @escaping (String) -> Void) {
        self.total = total
        self.write = write
    }

    func report(_ index: Int, _ phase: InitPhase, _ outcome: Result<PhaseResult, any Error>, _ elapsed: Duration) {
        let label = "  [\(index + 1)/\(total)] " + phase.name.padding(toLength: 16, withPad: " ", startingAt: 0)
        switch outcome {
        case .success(let result):
            changes += result.changes
            write(label + result.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + result.detail + " (\(elapsed.milliseconds) ms)\n")
        case .failure(let error):
            write(label + "FAILED   \(error)\n")
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
