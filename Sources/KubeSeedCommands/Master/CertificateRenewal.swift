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
    /// each healthy before the next; the kubeconfigs that embed a renewed certificate and root's copy of the
    /// admin one (the control-plane phase restarts the units whose kubeconfig changed); then every other
    /// unit that reads a renewed file.
    static let renewal: [InitPhase] = [.renewCertificates, .restartStorage, .controlPlane, .rootKubectl, .restartReaders]

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

    /// Restarts, one at a time, the units of `only` (all when `nil`) that read a renewed file and no phase
    /// of this run restarted yet; etcd and the API server are each healthy before the next.
    static func restarts(_ name: String, only: Set<String>?) -> InitPhase { InitPhase(name: name) { operations, context in
        let units = ClusterPKI.readers(ofAll: context.renewed).filter { !context.restartedUnits.contains($0) && only?.contains($0) ?? true }
        guard let services = operations.effects.services else {
            return units.isEmpty ? Result(state: .ok, detail: "none needed")
                : Result(state: .waiting, detail: "no systemd bus: restart \(units.joined(separator: ", ")) by hand")
        }
        var restarted: [String] = []
        var inactive: [String] = []
        for unit in units {
            guard try services.unitState(unit).isActive else { inactive.append(unit); continue }
            _ = try context.session.apply([.restartUnit(unit)])
            context.restartedUnits.insert(unit)
            restarted.append(unit)
            switch unit {
            case "etcd.service": _ = try await operations.etcdHealth(context.masterIP)
            case ControlPlane.unitNames[0]: _ = try await operations.apiServerReady(context.masterIP)
            default: break
            }
        }
        var detail = restarted.isEmpty ? "none needed" : "restarted \(restarted.joined(separator: ", ")), each healthy before the next"
        if !inactive.isEmpty { detail += "; not running, left: \(inactive.joined(separator: ", "))" }
        return Result(state: restarted.isEmpty ? .ok : .changed, detail: detail, changes: restarted.count)
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
