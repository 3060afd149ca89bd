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
    /// admin one; then every other unit that reads a renewed file or kubeconfig.
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
        case .all: names = ClusterPKI.leafNames
        case .due(let window):
            names = try store.due(parameters, window: window)
            if names.isEmpty { return Result(state: .ok, detail: "none ends within \(Int(window / 86400)) days") }
        }
        let renewed = try store.renew(names, parameters, journal: context.journal)
        context.renewed = renewed.map(\.name)
        let detail = renewed.map { "\($0.name) (until \(Timestamp.string($0.notAfter)), was \(Timestamp.string($0.previousNotAfter)))" }
        return Result(state: .changed, detail: "renewed " + detail.joined(separator: ", "), changes: renewed.count * 2)
    }

    /// The kubeconfigs that carry a certificate, written again where theirs changed (the restarts phase
    /// restarts their readers).
    static let renewKubeconfigs = InitPhase(name: "kubeconfigs") { operations, context in
        let files = ControlPlane.kubeconfigs(context.cluster, caPEM: try operations.identity("admin").caPEM, credentials: try operations.controlPlaneCredentials())
        let observed = try ComponentObserver(root: operations.root, services: operations.effects.services).observe(files, units: [])
        let written = try context.session.apply(ComponentPlanner.plan(files, observed, units: []).steps)
        return written.isEmpty ? Result(state: .ok, detail: "\(files.count) up to date")
            : Result(state: .changed, detail: written.map { "\($0.step)" }.joined(separator: ", "), changes: written.count)
    }

    /// Restarts, one at a time, the running units of `only` (all when `nil`) that read a certificate renewed
    /// now, or a certificate or kubeconfig written since they started, and that no phase of this run
    /// restarted yet; etcd and the API server are each healthy before the next.
    static func restarts(_ name: String, only: Set<String>?) -> InitPhase { InitPhase(name: name) { operations, context in
        let candidates = ClusterPKI.readers(ofAll: ClusterPKI.leafNames).filter { !context.restartedUnits.contains($0) && only?.contains($0) ?? true }
        guard let services = operations.effects.services else {
            let units = ClusterPKI.readers(ofAll: context.renewed).filter(candidates.contains)
            return units.isEmpty ? Result(state: .ok, detail: "none needed")
                : Result(state: .waiting, detail: "no systemd bus: restart \(units.joined(separator: ", ")) by hand")
        }
        // A modification time in the future (a clock set back since) says nothing about the unit's start.
        let now = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        var restarted: [String] = []
        for unit in candidates {
            let state = try services.unitState(unit)
            guard state.isActive else { continue }
            let certificates = ClusterPKI.leafNames.filter { ClusterPKI.readers(of: $0).contains(unit) }
            let kubeconfigs = ControlPlane.embeddedKubeconfigs.filter { $0.readers.contains(unit) }
            let renewedNow = (certificates + kubeconfigs.map(\.certificate)).contains { context.renewed.contains($0) }
            let files = certificates.flatMap { ["\(operations.certDirectory)/\($0).pem", "\(operations.certDirectory)/\($0)-key.pem"] } + kubeconfigs.map(\.path)
            let writtenSince = files.contains { path in
                operations.root.modifiedMicroseconds(path).map { $0 <= now && state.runsOlderThan($0) } ?? false
            }
            guard renewedNow || writtenSince else { continue }
            if unit == "etcd.service", let refusal = await operations.etcdRestartRefusal(context.masterIP) {
                throw HostError(.busy, refusal, cause: "another master's etcd is down or restarting (a renewal there?): run 'seed certs renew --due' again once every member is healthy")
            }
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
        if let refusal = names.lazy.compactMap(ClusterPKI.renewalRefusal).first {
            write("seed certs renew: nothing changed: \(refusal)\n")
            return 2
        }
        return await run("seed certs renew", InitPhase.renewal, requested, source: source, renewing: selection)
    }
}
