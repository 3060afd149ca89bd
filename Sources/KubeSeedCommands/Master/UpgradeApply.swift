import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

extension InitPhase {
    /// `seed upgrade apply` on one master: the skew policy and the cluster's health first; this master's
    /// control-plane binaries from the archive, and its control-plane files rendered for the release; then
    /// kube-apiserver (ready, at the release, and etcd healthy), and, once every API server runs the release,
    /// the controller manager and the scheduler, each restarted only while it runs an older binary or file;
    /// then the record. kubelet and kube-proxy are not touched: they follow on every node once every master is done.
    /// The upgrade lease (`UpgradeLease`) is taken at the end of the check and given back last.
    static let upgrade: [InitPhase] = [.upgradeCheck, .upgradeBinaries, .upgradeFiles, .upgradeAPIServer, .upgradeControllers, .record, .upgradeRelease]

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
        let lease = try await operations.takeUpgradeLease(context.masterIP, holder: context.leaseHolder)
        let releases = Set(found.installed.apiServers.values).sorted().map(\.description).joined(separator: ", ")
        return Result(state: .ok, detail: "\(found.installed.apiServers.count) API servers ready (\(releases)), \(members.count) etcd members healthy; \(target) allowed; \(lease)")
    }

    /// Gives the upgrade lease back (not a change on this host: a second run still counts none). The upgrade
    /// is done by now: a release that fails is said, not a failure of the run.
    static let upgradeRelease = InitPhase(name: "lease") { operations, context in
        Result(state: .ok, detail: await operations.releaseUpgradeLeaseOrSay(context.masterIP, holder: context.leaseHolder))
    }

    /// Every versioned binary is run with `--version`, changed or not: an archive of the old release under
    /// the same file name must not be recorded as the new one.
    static let upgradeBinaries = InitPhase(name: "binaries") { operations, context in
        guard let archive = context.config.serverArchive else { throw HostError(.file, "no server archive given", cause: "pass --server-archive FILE") }
        let installed = try BinaryInstaller(root: operations.root).install(archive: archive, sha256: context.config.serverArchiveSHA256,
                                                                          wanted: KubernetesArchive.controlPlaneBinaries, replace: true,
                                                                          journal: context.journal, version: context.config.version, probeUnchanged: true)
        let changed = installed.filter(\.changed)
        return changed.isEmpty ? Result(state: .ok, detail: "\(installed.count) control-plane binaries match \(archive) (Kubernetes \(context.config.version))")
            : Result(state: .changed, detail: "installed \(changed.map(\.name).joined(separator: ", ")) from \(archive) (Kubernetes \(context.config.version))",
                     changes: changed.count)
    }

    /// The control plane's units and files as the release wants them (its flags), written and loaded; no
    /// unit is started or restarted here.
    static let upgradeFiles = InitPhase(name: "files") { operations, context in
        let (files, observed) = try operations.controlPlaneFiles(context)
        let steps = ComponentPlanner.plan(files, observed, units: MasterOperations.controlPlaneUnits).steps.filter {
            switch $0 {
            case .startUnit, .restartUnit, .enableUnit: return false
            default: return true
            }
        }
        let performed = try context.session.apply(steps)
        return performed.isEmpty ? Result(state: .ok, detail: "\(files.count) files as \(context.config.version) wants them")
            : Result(state: .changed, detail: performed.map { "\($0.step)" }.joined(separator: ", "), changes: performed.count)
    }

    static let upgradeAPIServer = InitPhase(name: "api server") { operations, context in
        let restarted = try await operations.restartStale([ControlPlane.unitNames[0]], context)
        let version = try await operations.localAPIServerVersion(context.masterIP)
        guard version == context.config.version else {
            throw HostError(.program, "kube-apiserver here answers \(version.map(\.description) ?? "no version") after its restart, not \(context.config.version)",
                            cause: "see: journalctl -u kube-apiserver; /opt/k8s/bin/kube-apiserver --version")
        }
        _ = try await operations.etcdHealth(context.masterIP)
        return restarted.isEmpty ? Result(state: .ok, detail: "runs \(version!) on the files in place")
            : Result(state: .changed, detail: "restarted kube-apiserver: ready, \(version!), etcd healthy", changes: 1)
    }

    /// The controller manager and scheduler reach every API server through the balancer: never newer than
    /// one of them, so they move only once every API server runs the release (on the last master, or a run
    /// again after it).
    static let upgradeControllers = InitPhase(name: "controllers") { operations, context in
        let (installed, unanswered) = try await operations.installedVersions(context.masterIP)
        let behind = installed.apiServers.filter { $0.value < context.config.version }.keys.sorted() + unanswered
        guard behind.isEmpty else {
            context.controllersWaiting = true
            return Result(state: .waiting, detail: "kube-controller-manager and kube-scheduler stay as they run until every API server runs \(context.config.version) "
                          + "(not yet: \(behind.joined(separator: ", "))): run 'seed upgrade apply' here again after the last master")
        }
        let restarted = try await operations.restartStale(Array(ControlPlane.unitNames.dropFirst()), context)
        return restarted.isEmpty ? Result(state: .ok, detail: "kube-controller-manager and kube-scheduler run the binaries and files in place")
            : Result(state: .changed, detail: "restarted \(restarted.joined(separator: ", ")), each running 3 s before the next", changes: restarted.count)
    }
}

extension InitContext {
    /// Who holds the upgrade lease for this run.
    var leaseHolder: String { MasterOperations.upgradeLeaseHolder(config, masterIP) }
}

/// Why `seed upgrade apply` does not start: each problem named.
struct UpgradeRefusal: Error, CustomStringConvertible {
    var problems: [String]
    var description: String { problems.joined(separator: "; ") }
}

extension MasterOperations {
    /// `seed upgrade apply`: moves this master's control plane to `requested.kubernetesVersion` from its
    /// `serverArchive`. Everything else is what this master was set up with (its record): other changes in
    /// the cluster configuration are not taken by an upgrade. Exit codes as `seed init`'s.
    public func upgradeApply(_ requested: ClusterConfig, source: String) async -> Int32 {
        let command = "seed upgrade apply"
        let recorded: ClusterConfig
        do {
            guard let found = try recordedConfig() else {
                write("\(command): nothing changed: \(ClusterConfig.recordPath) is missing: run 'seed init' (or 'seed join') on this master first\n")
                return 2
            }
            recorded = found
        } catch {
            write("\(command): nothing changed: \(error)\n")
            return 2
        }
        var config = recorded
        config.kubernetesVersion = requested.kubernetesVersion
        config.serverArchive = requested.serverArchive
        config.serverArchiveSHA256 = requested.serverArchiveSHA256
        return await run(command, InitPhase.upgrade, config, source: ClusterConfig.recordPath, upgrading: true)
    }

    /// How long the upgrade lease keeps other masters out: this run's longest wait (the API server's restart)
    /// and an hour for the rest, so it does not expire under a run that is still going.
    var upgradeLeaseSeconds: Int { Int(apiServerTimeout.components.seconds) + 3600 }

    /// Who holds the upgrade lease for a run on this master: its name.
    static func upgradeLeaseHolder(_ config: ClusterConfig, _ masterIP: String) -> String { config.masterName ?? masterIP }

    static let upgradeLeaseObject = "lease \(UpgradeLease.namespace)/\(UpgradeLease.name)"

    /// The upgrade lease as the API server behind `client` holds it; `nil` when there is none.
    static func readUpgradeLease(_ client: any APIClient) async throws -> UpgradeLease.Held? {
        let read = try await client.send(APIRequest(.get, UpgradeLease.path, object: upgradeLeaseObject), timeout: .seconds(30))
        switch read.status {
        case 200: return try UpgradeLease.parse(read.body)
        case 404: return nil
        default: throw APIError(.status, "GET \(UpgradeLease.path) answered \(read.status)")
        }
    }

    /// Takes the upgrade lease for `holder` through this master's API server (creates it, renews its own, or
    /// takes over one that expired); throws `UpgradeRefusal` while another master holds it. Returns what it did.
    func takeUpgradeLease(_ masterIP: String, holder: String, now: Date = Date()) async throws -> String {
        let object = Self.upgradeLeaseObject
        return try await withClient(Self.url(masterIP, 6443), presenting: "admin") { client in
            let decision = UpgradeLease.decide(try await Self.readUpgradeLease(client), holder: holder, now: now)
            let sent: APIRequest
            switch decision {
            case .heldElsewhere(let held):
                throw UpgradeRefusal(problems: [Self.leaseRefusal(held)])
            case .create:
                sent = APIRequest(.post, UpgradeLease.collectionPath, body: UpgradeLease.object(holder: holder, durationSeconds: upgradeLeaseSeconds, now: now), object: object)
            case .renew(let held), .takeOver(let held):
                sent = APIRequest(.put, UpgradeLease.path, body: UpgradeLease.object(holder: holder, durationSeconds: upgradeLeaseSeconds, now: now, replacing: held.resourceVersion),
                                  object: object)
            }
            let answer = try await client.send(sent, timeout: .seconds(30))
            if answer.status == 409 {
                let holderNow = ((try? await Self.readUpgradeLease(client)) ?? nil)?.holder
                // A request the client sent again after a lost answer finds its own first attempt applied.
                if holderNow == holder { return "took the upgrade lease" }
                throw UpgradeRefusal(problems: ["\(holderNow.map(Validate.printable) ?? "another master") took the upgrade lease (\(UpgradeLease.namespace)/\(UpgradeLease.name)) "
                                                + "at the same moment: one master at a time"])
            }
            guard [200, 201].contains(answer.status) else { throw APIError(.status, "\(sent.method.rawValue) \(sent.path) answered \(answer.status)") }
            switch decision {
            case .create: return "took the upgrade lease"
            case .renew: return "took the upgrade lease again (a run here had kept it)"
            case .takeOver(let held): return held.holder.isEmpty ? "took the upgrade lease (it named no holder)" : "took the upgrade lease (\(Validate.printable(held.holder))'s had expired)"
            case .heldElsewhere: return ""
            }
        }
    }

    /// `releaseUpgradeLease`, or what to do when it failed.
    func releaseUpgradeLeaseOrSay(_ masterIP: String, holder: String) async -> String {
        do { return try await releaseUpgradeLease(masterIP, holder: holder) } catch {
            return "could not give the upgrade lease back (\(error)): it expires after \(upgradeLeaseSeconds) s, "
                + "or 'kubectl -n \(UpgradeLease.namespace) delete lease \(UpgradeLease.name)'"
        }
    }

    /// The refusal while `held` keeps this master out.
    static func leaseRefusal(_ held: UpgradeLease.Held) -> String {
        "\(Validate.printable(held.holder)) holds the upgrade lease (\(UpgradeLease.namespace)/\(UpgradeLease.name)) "
            + (held.expires.map { "until \(Timestamp.string($0))" } ?? "with no end it states") + ": "
            + "an upgrade runs there. Once it is done, run this again; if none runs there, 'kubectl -n \(UpgradeLease.namespace) delete lease \(UpgradeLease.name)'"
    }

    /// Gives the upgrade lease back when `holder` holds it (a DELETE that names the version read, so a lease
    /// another master took since stays). Returns what it did.
    func releaseUpgradeLease(_ masterIP: String, holder: String) async throws -> String {
        return try await withClient(Self.url(masterIP, 6443), presenting: "admin") { client in
            guard let held = try await Self.readUpgradeLease(client) else { return "no upgrade lease to give back" }
            guard held.holder == holder else { return "the upgrade lease is \(Validate.printable(held.holder))'s, not this master's: left as it is" }
            let answer = try await client.send(APIRequest(.delete, UpgradeLease.path, body: UpgradeLease.releaseOptions(resourceVersion: held.resourceVersion),
                                                          object: Self.upgradeLeaseObject),
                                               timeout: .seconds(30))
            switch answer.status {
            case 200, 202, 404: return "gave the upgrade lease back"
            case 409: return "the upgrade lease changed since it was read: left as it is"
            default: throw APIError(.status, "DELETE \(UpgradeLease.path) answered \(answer.status)")
            }
        }
    }

    /// The control plane's rendered files for `context`'s release (with the encryption key a control-plane
    /// join brought), and what the host holds of them and its units.
    func controlPlaneFiles(_ context: InitContext) throws -> ([RenderedFile], ComponentObservation) {
        let files = ControlPlane.files(context.cluster, caPEM: try identity("admin").caPEM, credentials: try controlPlaneCredentials(),
                                       encryptionKey: try encryptionKey(shared: context.joining?.secrets[SharedSecretFile.encryptionKey].map(Array.init)))
        return (files, try ComponentObserver(root: root, services: effects.services).observe(files, units: Self.controlPlaneUnits))
    }

    /// Restarts, one at a time, each of `units` that runs an older binary or file than the one in place
    /// (`ComponentPlanner.stale`): kube-apiserver until `/readyz`, the others until they have run 3 s.
    /// A stopped unit stays stopped. Returns the units restarted.
    func restartStale(_ units: [String], _ context: InitContext) async throws -> [String] {
        let (files, observed) = try controlPlaneFiles(context)
        var restarted: [String] = []
        for unit in Self.controlPlaneUnits where units.contains(unit.name) {
            let state = observed.units[unit.name] ?? .notFound
            guard state.activeState == "active", ComponentPlanner.stale(unit, state, files, observed) else { continue }
            _ = try context.session.apply([.restartUnit(unit.name)])
            restarted.append(unit.name)
            if unit.name == ControlPlane.unitNames[0] {
                _ = try await apiServerReady(context.masterIP)
            } else {
                try await unitStaysActive(unit.name)
            }
        }
        return restarted
    }

    /// This master's API server's release (`/version`), `nil` when it gives none.
    func localAPIServerVersion(_ masterIP: String) async throws -> KubernetesVersion? {
        try await withClient(Self.url(masterIP, 6443), presenting: "admin", Self.apiServerVersion)
    }

    /// The release `client`'s API server reports at `/version`; `nil` when it gives none.
    static func apiServerVersion(_ client: any APIClient) async throws -> KubernetesVersion? {
        VersionSkew.apiServerVersion(in: try await client.send(APIRequest(.get, "/version", object: "version"), timeout: .seconds(10)).body)
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
                return try await Self.apiServerVersion(client)
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

    /// What keeps etcd from losing a member for a while: a learner, or a voter that is not healthy (one
    /// with no client address has not started).
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

    /// Waits 3 s and checks `unit` runs, started by the restart just made and not since (a component that
    /// exits at once on a flag the new release dropped, restarted by systemd, shows by then).
    func unitStaysActive(_ unit: String) async throws {
        let before = try effects.services?.unitState(unit)
        try await Task.sleep(for: .seconds(3))
        guard let state = try effects.services?.unitState(unit), state.activeState == "active", state.subState == "running",
              state.activeEnterMicroseconds == before?.activeEnterMicroseconds else {
            throw HostError(.dbus, "\(unit) did not stay running after its restart", cause: "see: journalctl -u \(unit)")
        }
    }
}
