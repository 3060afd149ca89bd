import Foundation
import KubeSeedCore
import KubeSeedHost

/// etcd under systemd with KubeSeed's unit (the etcd phase of `seed init` and `seed etcd`).
struct EtcdSetup {
    var session: HostSession
    var certDirectory = ControlPlane.certDir
    /// Where etcd's data and WAL live (`host.dataDir`).
    var settings: NodePrepSettings
    /// Heartbeat and election timeout (`timing`).
    var timing = ControlPlaneTiming()

    var root: HostRoot { session.root }
    var effects: HostEffects { session.effects }

    static let neededCertificates = [EtcdUnit.caFile, "etcd-server.pem", "etcd-server-key.pem", "etcd-peer.pem", "etcd-peer-key.pem"]

    /// Writes the unit when it differs, then reloads, enables, and starts or restarts etcd; the
    /// Type=notify start job ends only when etcd is ready. Returns the steps performed.
    /// - Parameter deferringActivation: leave the reload and the start or restart owed (returned) for a later
    ///   list of steps to make with its own, instead of making them and waiting for etcd.
    func converge(this member: EtcdUnit.Member, cluster: [EtcdUnit.Member],
                  deferringActivation: Bool = false) throws -> (performed: [StepRunner.PerformedStep], owed: PendingActivation) {
        let unit = try Self.joinedUnit(root: root, name: member.name, dataDir: settings.etcdDataDir, certDirectory: certDirectory)
            ?? EtcdUnit.render(this: member, cluster: cluster, certDir: certDirectory, settings: settings, timing: timing)
        return try converge(unit: unit, deferringActivation: deferringActivation)
    }

    /// The unit of a member that joined a running cluster (`seed join`) and has started (its data is in
    /// `dataDir`), when this host has one for `name`: it is kept as written, since its `--initial-cluster`
    /// was the membership of the day it joined and etcd reads it only at that first start. Before the
    /// first start it is rendered again from the members of the day.
    /// A unit written before etcd had a CA of its own gets the etcd CA in place of the cluster CA.
    static func joinedUnit(root: HostRoot, name: String, dataDir: String, certDirectory: String = ControlPlane.certDir) throws -> String? {
        guard root.exists("\(dataDir)/member"), let text = try root.readText(EtcdUnit.path), EtcdUnit.isJoinedUnit(text, name: name) else { return nil }
        return EtcdUnit.trustingEtcdCA(text, certDir: certDirectory)
    }

    /// Writes `unit` when it differs, then as `converge(this:cluster:)`.
    func converge(unit: String) throws -> [StepRunner.PerformedStep] {
        try converge(unit: unit, deferringActivation: false).performed
    }

    private func converge(unit: String, deferringActivation: Bool) throws -> (performed: [StepRunner.PerformedStep], owed: PendingActivation) {
        let missing = Self.neededCertificates.map { "\(certDirectory)/\($0)" }.filter { !root.exists($0) }
            + [settings.etcdDataDir, settings.etcdWALDir].filter { !root.isDirectory($0) }
        guard missing.isEmpty else {
            throw HostError(.file, "missing \(missing.joined(separator: ", "))", cause: "run 'seed-agent apply' and 'seed pki' first")
        }
        guard let services = effects.services else { throw HostError(.dbus, "systemd is not reachable", cause: effects.busError) }
        let changed = try root.readText(EtcdUnit.path) != unit
        let state = try services.unitState("etcd.service")
        var steps: [Step] = []
        if changed { steps.append(.writeFile(path: EtcdUnit.path, content: unit, mode: 0o644)) }
        if !state.isEnabled { steps.append(.enableUnit("etcd.service")) }
        // One reload for both the new unit file and the enable, before the start reads the unit.
        if !steps.isEmpty { steps.append(.reloadSystemd) }
        // A start already under way (systemd started the enabled unit at boot; after a power cut etcd
        // replays its WAL first) is joined, not skipped: the start job ends only when etcd is ready.
        if changed && state.isActive { steps.append(.restartUnit("etcd.service")) } else if state.activeState != "active" { steps.append(.startUnit("etcd.service")) }
        let runner = session.runner()
        if deferringActivation {
            let owed = try runner.applyDeferringActivation(steps, observed: NodeObservation())
            return (runner.performed, owed)
        }
        try runner.apply(steps, observed: NodeObservation())
        let after = try services.unitState("etcd.service")
        guard after.activeState == "active" else {
            throw HostError(.systemJob, "etcd is \(after.activeState) (\(after.subState))", cause: "see: journalctl -u etcd")
        }
        return (runner.performed, PendingActivation())
    }
}
