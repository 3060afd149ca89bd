import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// Which certificates `seed certs renew` renews.
enum CertificateSelection: Sendable, Equatable {
    case named([String])
    case all
    /// Those ending within this many seconds (the timer's `--due`).
    case due(TimeInterval)
}

extension InitPhase {
    /// `seed certs renew`: the certificates; etcd and then the API server where they read a renewed file,
    /// each healthy before the next; the kubeconfigs that embed a renewed certificate (the units that read
    /// them restart) and root's copy of the admin one; then every other unit that reads a renewed file.
    /// A unit that runs since before a file it reads was written (a renewal cut short) restarts too.
    /// Nothing else of the control plane is touched: no unit is started, enabled or given new flags.
    static let renewal: [InitPhase] = [.renewCertificates, .restartStorage, .renewKubeconfigs, .rootKubectl, .restartReaders]

    static let restartStorage = restarts("etcd and api", only: ["etcd.service", ControlPlane.unitNames[0]])
    static let restartReaders = restarts("restarts", only: nil)

    static let renewCertificates = InitPhase(name: "certificates", needsMasterName: false) { operations, context in
        var store = PKIStore(root: operations.root)
        store.directory = operations.certDirectory
        let parameters = PKIParameters(context.config)
        let names: [String]
        switch context.renewing ?? .all {
        case .named(let given): names = given
        case .all: names = PKIStore.renewableNames(parameters)
        case .due(let window):
            names = try store.due(parameters, window: window)
            if names.isEmpty { return Result(state: .ok, detail: "none ends within \(Int(window / 86400)) days") }
        }
        let renewed = try store.renew(names, parameters, journal: context.journal)
        context.renewed = renewed.map(\.name)
        let detail = renewed.map { "\($0.name) (until \(Timestamp.string($0.notAfter)), was \(Timestamp.string($0.previousNotAfter)))" }
        return Result(state: .changed, detail: "renewed " + detail.joined(separator: ", "), changes: renewed.count * 2)
    }

    /// The kubeconfigs that carry a certificate, written again where theirs changed.
    static let renewKubeconfigs = InitPhase(name: "kubeconfigs") { operations, context in
        let files = ControlPlane.files(context.cluster, caPEM: try operations.identity("admin").caPEM, credentials: try operations.controlPlaneCredentials(),
                                       encryptionKey: Array(repeating: 0, count: 32))
            .filter { KubeconfigCredential.paths.contains($0.path) }
        let observed = try ComponentObserver(root: operations.root, services: operations.effects.services).observe(files, units: [])
        let written = try context.session.apply(ComponentPlanner.plan(files, observed, units: []).steps)
        var restarted: [String] = []
        for unit in Set(files.flatMap(\.restarts)).sorted() where !context.restartedUnits.contains(unit) {
            guard let state = try operations.effects.services?.unitState(unit), state.isActive else { continue }
            let newer = state.activeEnterMicroseconds > 0 && files.filter { $0.restarts.contains(unit) }.contains { (operations.root.modifiedMicroseconds($0.path) ?? 0) > state.activeEnterMicroseconds }
            guard newer else { continue }
            _ = try context.session.apply([.restartUnit(unit)])
            context.restartedUnits.insert(unit)
            restarted.append(unit)
        }
        if written.isEmpty && restarted.isEmpty { return Result(state: .ok, detail: "\(files.count) up to date") }
        var detail = written.map { "\($0.step)" }
        if !restarted.isEmpty { detail.append("restarted \(restarted.joined(separator: ", "))") }
        return Result(state: .changed, detail: detail.joined(separator: ", "), changes: written.count + restarted.count)
    }

    /// Restarts, one at a time, the running units of `only` (all when `nil`) that read a certificate renewed
    /// now or written since they started, and no phase of this run restarted yet; etcd and the API server
    /// are each healthy before the next.
    static func restarts(_ name: String, only: Set<String>?) -> InitPhase { InitPhase(name: name) { operations, context in
        guard let services = operations.effects.services else {
            let units = ClusterPKI.readers(ofAll: context.renewed)
            return units.isEmpty ? Result(state: .ok, detail: "none needed")
                : Result(state: .waiting, detail: "no systemd bus: restart \(units.joined(separator: ", ")) by hand")
        }
        var restarted: [String] = []
        for unit in ClusterPKI.readers(ofAll: ClusterPKI.leafNames) where !context.restartedUnits.contains(unit) && only?.contains(unit) ?? true {
            let state = try services.unitState(unit)
            guard state.isActive else { continue }
            let reads = ClusterPKI.leafNames.filter { ClusterPKI.readers(of: $0).contains(unit) }
            let renewedNow = reads.contains { context.renewed.contains($0) }
            // A modification time in the future (a clock set back since) says nothing about the unit's start.
            let now = UInt64(Date().timeIntervalSince1970 * 1_000_000)
            let writtenSince = state.activeEnterMicroseconds > 0 && reads.contains { name in
                ["\(operations.certDirectory)/\(name).pem", "\(operations.certDirectory)/\(name)-key.pem"].contains {
                    let modified = operations.root.modifiedMicroseconds($0) ?? 0
                    return modified > state.activeEnterMicroseconds && modified <= now
                }
            }
            guard renewedNow || writtenSince else { continue }
            _ = try context.session.apply([.restartUnit(unit)])
            context.restartedUnits.insert(unit)
            restarted.append(unit)
            switch unit {
            case "etcd.service": _ = try await operations.etcdHealth(context.masterIP)
            case ControlPlane.unitNames[0]: _ = try await operations.apiServerReady(context.masterIP)
            default: break
            }
        }
        return restarted.isEmpty ? Result(state: .ok, detail: "none needed")
            : Result(state: .changed, detail: "restarted \(restarted.joined(separator: ", ")), each healthy before the next", changes: restarted.count)
    } }
}

extension MasterOperations {
    /// `seed certs renew`. Exit codes as `seed init`'s.
    public func renewCertificates(_ requested: ClusterConfig, source: String, names: [String], all: Bool, dueWithinDays: Int?) async -> Int32 {
        let selection: CertificateSelection
        switch (names.isEmpty, all, dueWithinDays) {
        case (false, false, nil): selection = .named(names)
        case (true, true, nil): selection = .all
        case (true, false, let days?): selection = .due(TimeInterval(days) * 86400)
        default:
            write("seed certs renew: nothing changed: give certificate names, --all, or --due (one of them)\n")
            return 2
        }
        if let unknown = names.first(where: { !ClusterPKI.leafNames.contains($0) }) {
            let why = [ClusterPKI.caName, ClusterPKI.etcdCAName].contains(unknown)
                ? "\(unknown) is a CA: 'seed certs renew' never replaces one (every certificate it signed would stop verifying; the README's 'Rotating a CA' has the steps by hand)"
                : "\(Validate.shown(unknown)) is not a certificate KubeSeed renews; the names are: \(ClusterPKI.leafNames.joined(separator: ", "))"
            write("seed certs renew: nothing changed: \(why)\n")
            return 2
        }
        return await run("seed certs renew", InitPhase.renewal, requested, source: source, renewing: selection)
    }
}
