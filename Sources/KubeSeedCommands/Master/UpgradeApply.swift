import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

extension InitPhase {
    /// `seed upgrade apply` on one master: the skew policy and the cluster's health first; this master's
    /// control-plane binaries from the archive; then kube-apiserver (ready, and etcd healthy, before the next),
    /// the controller manager and the scheduler, each restarted only while it runs an older binary; then the
    /// record. kubelet and kube-proxy are not touched: they follow on every node once every master is done.
    static let upgrade: [InitPhase] = [.upgradeCheck, .upgradeBinaries, .upgradeRestarts, .record]

    static let upgradeCheck = InitPhase(name: "upgrade check") { operations, context in
        let target = context.config.version
        let found = try await operations.installedVersions(context.masterIP)
        var problems = found.unanswered.map { "the API server at \($0) is not ready: every API server must be, before a master restarts" }
        if found.installed.apiServers.isEmpty { problems.append("no API server answered") }
        problems += VersionSkew.controlPlaneProblems(found.installed, to: target)
        let members: [EtcdMember]
        do { members = try await operations.localEtcdMembers(attempts: 2, connectTimeout: .seconds(3)) } catch {
            throw UpgradeRefusal(problems: problems + ["etcd does not answer here (\(error))"])
        }
        problems += try await operations.etcdMemberProblems(members)
        guard problems.isEmpty else { throw UpgradeRefusal(problems: problems) }
        let releases = Set(found.installed.apiServers.values).sorted().map(\.description).joined(separator: ", ")
        return Result(state: .ok, detail: "\(found.installed.apiServers.count) API servers ready (\(releases)), \(members.count) etcd members healthy; \(target) allowed")
    }

    static let upgradeBinaries = InitPhase(name: "binaries") { operations, context in
        guard let archive = context.config.serverArchive else { throw HostError(.file, "no server archive given", cause: "pass --server-archive FILE") }
        let installed = try BinaryInstaller(root: operations.root).install(archive: archive, sha256: context.config.serverArchiveSHA256,
                                                                          wanted: KubernetesArchive.controlPlaneBinaries, replace: true,
                                                                          journal: context.journal, version: context.config.version)
        let changed = installed.filter(\.changed)
        return changed.isEmpty ? Result(state: .ok, detail: "\(installed.count) control-plane binaries match \(archive) (Kubernetes \(context.config.version))")
            : Result(state: .changed, detail: "installed \(changed.map(\.name).joined(separator: ", ")) from \(archive) (Kubernetes \(context.config.version))",
                     changes: changed.count)
    }

    /// Restarts, one at a time, each running control-plane unit that runs an older binary than the one in
    /// place: kube-apiserver first, ready and etcd healthy before the next. A stopped unit stays stopped.
    static let upgradeRestarts = InitPhase(name: "restarts") { operations, context in
        guard let services = operations.effects.services else { throw HostError(.dbus, "systemd is not reachable") }
        let units = MasterOperations.controlPlaneUnits.filter(\.runsBinary)
        let observed = try ComponentObserver(root: operations.root, services: services).observe([], units: units)
        var restarted: [String] = []
        for unit in units {
            guard ComponentPlanner.runsOlderBinary(unit, observed.units[unit.name] ?? .notFound, observed) else { continue }
            _ = try context.session.apply([.restartUnit(unit.name)])
            restarted.append(unit.name)
            if unit.name == ControlPlane.unitNames[0] {
                _ = try await operations.apiServerReady(context.masterIP)
                _ = try await operations.etcdHealth(context.masterIP)
            } else {
                try await operations.unitStaysActive(unit.name)
            }
        }
        let stopped = units.filter { !(observed.units[$0.name]?.isActive ?? false) }.map(\.name)
        let note = stopped.isEmpty ? "" : "; not running, left stopped: \(stopped.joined(separator: ", "))"
        return restarted.isEmpty ? Result(state: .ok, detail: "every running control-plane unit runs the binary in place\(note)")
            : Result(state: .changed, detail: "restarted \(restarted.joined(separator: ", ")), each running before the next\(note)", changes: restarted.count)
    }
}

/// Why `seed upgrade apply` does not start: each problem named.
struct UpgradeRefusal: Error, CustomStringConvertible {
    var problems: [String]
    var description: String { "not now, nothing changed: " + problems.joined(separator: "; ") }
}

extension MasterOperations {
    /// `seed upgrade apply`: moves this master's control plane to `requested.kubernetesVersion` from its
    /// `serverArchive`. Exit codes as `seed init`'s.
    public func upgradeApply(_ requested: ClusterConfig, source: String) async -> Int32 {
        await run("seed upgrade apply", InitPhase.upgrade, requested, source: source, upgrading: true)
    }

    /// Every API server's release (found through etcd's members; this master's when etcd does not answer)
    /// and each node's kubelet and kube-proxy; `unanswered`: the API servers not ready or without a version.
    /// Throws when the node list cannot be read.
    func installedVersions(_ masterIP: String) async throws -> (installed: VersionSkew.Installed, unanswered: [String]) {
        var installed = VersionSkew.Installed()
        var unanswered: [String] = []
        let endpoints = await knownAPIServerEndpoints() ?? [Self.url(masterIP, 6443)]
        for endpoint in endpoints {
            let version: KubernetesVersion? = try? await withClient(endpoint, presenting: "admin") { client in
                guard case .success = await Readiness.apiServerReady(client) else { return nil }
                return VersionSkew.apiServerVersion(in: try await client.send(APIRequest(.get, "/version", object: "version"), timeout: .seconds(10)).body)
            }
            if let version { installed.apiServers[endpoint] = version } else { unanswered.append(endpoint) }
        }
        let nodes = try await withClient(Self.url(masterIP, 6443), presenting: "admin") { client in
            try await client.send(APIRequest(.get, "/api/v1/nodes", object: "nodes"), timeout: .seconds(30))
        }
        guard nodes.status == 200 else { throw APIError(.status, "GET /api/v1/nodes answered \(nodes.status)") }
        (installed.kubelets, installed.kubeProxies) = try VersionSkew.nodeVersions(in: nodes.body)
        return (installed, unanswered)
    }

    /// What keeps etcd from losing a member for a while: a learner, or a member that is not healthy.
    func etcdMemberProblems(_ members: [EtcdMember]) async throws -> [String] {
        let voters = members.filter { !$0.isLearner }
        let healthy = try await healthyEtcdMembers(voters)
        return members.filter(\.isLearner).map { "etcd member \($0.displayName) is a learner still joining" }
            + voters.filter { !healthy.contains($0.id) }.map { "etcd member \($0.displayName) is not healthy" }
    }

    /// The IDs of `members` whose `/health` answers healthy (this master's etcd client pair).
    func healthyEtcdMembers(_ members: [EtcdMember]) async throws -> Set<UInt64> {
        let reachable = members.filter { !$0.clientURLs.isEmpty }
        return try await withEtcdClients(reachable.map { $0.clientURLs[0] }, identity: etcdIdentity(), connectTimeout: .seconds(3)) { cluster in
            let clients = Dictionary(zip(reachable.map(\.id), cluster.clients), uniquingKeysWith: { first, _ in first })
            return await EtcdClusterClient.healthy(reachable) { clients[$0.id] }
        }
    }

    /// Why this master's etcd must not restart now (`EtcdMembership.restartRefusal`); `nil` also when its own
    /// member does not answer: a member that does not serve costs no quorum by restarting.
    func etcdRestartRefusal(_ masterIP: String) async -> String? {
        guard let members = try? await localEtcdMembers(attempts: 2, connectTimeout: .seconds(3)), members.count > 1 else { return nil }
        let healthy = (try? await healthyEtcdMembers(members)) ?? []
        return EtcdMembership.restartRefusal(of: masterIP, members: members, healthyIDs: healthy)
    }

    /// Waits 3 s and checks `unit` still runs (a component that exits at once on a flag the new release
    /// dropped shows by then).
    func unitStaysActive(_ unit: String) async throws {
        try await Task.sleep(for: .seconds(3))
        guard let state = try effects.services?.unitState(unit), state.activeState == "active" else {
            throw HostError(.dbus, "\(unit) did not stay running after its restart", cause: "see: journalctl -u \(unit)")
        }
    }
}
