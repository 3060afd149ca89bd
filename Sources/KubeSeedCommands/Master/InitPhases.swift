import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// `seed init`'s phases in the order they run, each declared (its name, when it runs) beside its body.
/// `MasterOperations.run` (MasterInit.swift) runs a list of them in one `HostSession`. The phases a
/// control-plane join adds are in ControlPlaneJoin.swift; the master as a node in MasterAsNode.swift;
/// the node roles in CSRApproval.swift.
extension InitPhase {
    /// `seed init`, in order. etcd's and the control plane's units are started with the node's (one
    /// daemon-reload, one batch of starts, systemd ordering them), so the master as a node comes before
    /// the waits for etcd and the API server.
    static let initialization: [InitPhase] = [.node, .pki, .etcd, .binaries, .controlPlane, .rootKubectl, .record, .masterNode, .etcdHealth,
                                              .apiServer, .bootstrapRBAC, .clusterDNS, .nodeRoles]
}

extension InitPhase {
    static let node: InitPhase = InitPhase(name: "node") { operations, context in
        var settings = context.config.host
        settings.addDirectories(ControlPlane.directories(context.cluster))
        var agent = AgentOperations(root: operations.root, effects: operations.effects, settings: settings, effectiveUID: operations.effectiveUID)
        let outcome = await agent.apply(in: context.session, deferReload: context.foldsActivationIntoNode(.node))
        if outcome.reloadPending { context.pending.reload = true }
        guard outcome.exitCode == 0 else {
            throw HostError(.file, "node preparation failed", cause: outcome.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return outcome.changes == 0 ? Result(state: .ok, detail: "already prepared")
            : Result(state: .changed, detail: "\(outcome.changes) changes (modules, sysctls, swap, SELinux, time, directories)", changes: outcome.changes)
    }
}

extension InitPhase {
    static let pki = InitPhase(name: "pki", needsMasterName: false) { operations, context in
        var store = PKIStore(root: operations.root)
        store.directory = operations.certDirectory
        let moving = try store.legacyEtcdLayout()
        let entries = try store.ensure(PKIParameters(context.config), algorithm: context.config.keyAlgorithm, journal: context.journal,
                                       prefetched: context.prefetchedKeys)
        let created = entries.filter { $0.outcome == .created }.count
        if moving {
            return Result(state: .changed, detail: "etcd moved to a CA of its own: \(ClusterPKI.etcdCAName) created; "
                          + "\(ClusterPKI.etcdSpecs(PKIParameters(context.config)).map(\.name).joined(separator: ", ")) issued again from it (the cluster CA had signed them); "
                          + "\(entries.count - created) reused", changes: created)
        }
        return created == 0 ? Result(state: .ok, detail: "\(entries.count) reused")
            : Result(state: .changed, detail: "\(created) created, \(entries.count - created) reused", changes: created)
    }
}

extension InitPhase {
    static let etcd: InitPhase = InitPhase(name: "etcd") { operations, context in
        let member = EtcdUnit.Member(name: context.config.masterName!, ip: context.masterIP)
        let (performed, owed) = try EtcdSetup(session: context.session,
                                              certDirectory: operations.certDirectory, settings: context.config.host, timing: context.config.timing)
            .converge(this: member, cluster: [member], deferringActivation: context.foldsActivationIntoNode(.etcd))
        context.pending = context.pending.adding(owed)
        let later = owed.jobs.isEmpty ? "" : "; \(owed.jobs.map(\.description).joined(separator: ", ")) with the node's units"
        if performed.isEmpty && owed.isEmpty { return Result(state: .ok, detail: "active with mutual TLS") }
        return Result(state: .changed, detail: performed.map { "\($0.step)" }.joined(separator: ", ") + later, changes: performed.count)
    }
}

extension InitPhase {
    static let etcdHealth = InitPhase(name: "etcd health") { operations, context in
        // A start that failed (in the node's batch) is said now, not after the wait (Restart=on-failure
        // keeps a failing etcd in auto-restart).
        if let state = try? operations.effects.services?.unitState("etcd.service"), state.activeState == "failed" || state.subState == "auto-restart" {
            throw HostError(.systemJob, "etcd is failed (\(state.subState))", cause: "see: journalctl -u etcd")
        }
        return try await operations.etcdHealth(context.masterIP)
    }
}

extension MasterOperations {
    func etcdHealth(_ masterIP: String) async throws -> InitPhase.Result {
        let url = Self.url(masterIP, 2379)
        try await withClient(url, identity: etcdIdentity()) { client in
            try await Readiness.wait(for: "etcd at \(url)", limit: etcdTimeout) { await Readiness.etcdHealthy(client) }
        }
        return InitPhase.Result(state: .ok, detail: "\(url)/health answers healthy over mutual TLS (apiserver-etcd-client)")
    }
}

extension InitPhase {
    static let binaries = InitPhase(name: "binaries") { operations, context in
        try operations.installBinaries(context.config.serverArchive, sha256: context.config.serverArchiveSHA256,
                                       replace: context.replaceBinaries, journal: context.journal, version: context.config.version)
    }
}

extension MasterOperations {
    func installBinaries(_ archive: String?, sha256: String?, replace: Bool, journal: ChangeJournal, version: KubernetesVersion) throws -> InitPhase.Result {
        if let archive {
            let installed = try BinaryInstaller(root: root).install(archive: archive, sha256: sha256, wanted: KubernetesArchive.masterBinaries,
                                                                  replace: replace, journal: journal, version: version)
            let changed = installed.filter(\.changed)
            let how = installed.allSatisfy(\.recorded) ? "; unchanged since they were installed from it, nothing read" : ""
            return changed.isEmpty ? InitPhase.Result(state: .ok, detail: "\(installed.count) binaries in \(NodePaths.binDir) match \(archive) (Kubernetes \(version)\(how))")
                : InitPhase.Result(state: .changed, detail: "installed \(changed.map(\.name).joined(separator: ", ")) from \(archive) (Kubernetes \(version))", changes: changed.count)
        }
        let missing = controlPlaneBinariesMissing()
        return missing.isEmpty ? InitPhase.Result(state: .ok, detail: "control-plane binaries present in \(NodePaths.binDir)")
            : InitPhase.Result(state: .waiting, detail: "missing in \(NodePaths.binDir): \(missing.joined(separator: ", ")) (no --server-archive given)")
    }

    /// The control plane's binaries that are not executables in the binary directory.
    func controlPlaneBinariesMissing() -> [String] {
        var seen = Set<String>()
        return Self.controlPlaneUnits.compactMap(\.binary).filter { seen.insert($0).inserted }
            .filter { !root.isExecutable("\(NodePaths.binDir)/\($0)") }
    }
}

extension InitPhase {
    static let controlPlane: InitPhase = InitPhase(name: "control plane") { operations, context in
        let (result, runnable) = try operations.controlPlane(context)
        context.controlPlaneStarted = runnable
        return result
    }
}

extension MasterOperations {
    /// Writes the control plane's files and units, enables the units, and starts them when their binaries are there.
    func controlPlane(_ context: InitContext) throws -> (InitPhase.Result, runnable: Bool) {
        let (files, observed) = try controlPlaneFiles(context)
        let units = Self.controlPlaneUnits
        let plan = ComponentPlanner.plan(files, observed, units: units)
        let runner = context.session.runner()
        // Nothing to start (the binaries are missing), or the node's pass comes later in this run: the
        // reload and the starts wait for the node's, one reload fewer on the way.
        let starts = plan.steps.filter(\.isUnitJob)
        let deferring = starts.isEmpty || context.foldsActivationIntoNode(.controlPlane)
        if deferring {
            context.pending = context.pending.adding(try runner.applyDeferringActivation(plan.steps, observed: NodeObservation()))
        } else {
            try runner.apply(plan.steps, observed: NodeObservation())
        }
        let runnable = units.allSatisfy { observed.binaries.contains($0.binary!) }
        let written = plan.steps.filter { if case .writeFile = $0 { return true }; return false }.count
        var detail = written == 0 ? "\(files.count) files up to date" : "\(written) of \(files.count) files written"
        let activation = runner.performed.filter { if case .writeFile = $0.step { return false }; return true }
        if !activation.isEmpty { detail += "; " + activation.map { "\($0.step)" }.joined(separator: ", ") }
        if !runnable { detail += "; units enabled, not started: binaries missing" }
        if deferring && !starts.isEmpty {
            detail += "; \(starts.map(\.description).joined(separator: ", ")) with the node's units"
        } else if deferring && !context.pending.isEmpty {
            detail += " (systemd reloads them with the node's units)"
        }
        let state: InitPhase.Result.State = runner.performed.isEmpty ? (runnable ? .ok : .waiting) : .changed
        return (InitPhase.Result(state: state, detail: detail, changes: runner.performed.count), runnable)
    }

    func controlPlaneCredentials() throws -> [String: ControlPlane.Credential] {
        var credentials: [String: ControlPlane.Credential] = [:]
        for name in ["admin", "kube-controller-manager", "kube-scheduler", "kube-proxy"] {
            let pair = try identity(name)
            credentials[name] = ControlPlane.Credential(certificatePEM: pair.certificatePEM, keyPEM: pair.keyPEM)
        }
        return credentials
    }

    /// The key already in the encryption config, else the cluster's (`shared`, on a joining master), else
    /// a new random one; never a silent replacement.
    func encryptionKey(shared: [UInt8]? = nil) throws -> [UInt8] {
        if let existing = try root.readText(ControlPlane.encryptionConfigPath) {
            guard let key = ControlPlane.encryptionKey(in: existing) else {
                throw HostError(.file, "\(ControlPlane.encryptionConfigPath) has no aescbc key KubeSeed can keep",
                                cause: "Secrets stored under its key would become unreadable; restore the file or move it away if the cluster holds no data yet")
            }
            return key
        }
        if let shared { return shared }
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}

extension InitPhase {
    static let rootKubectl = InitPhase(name: "kubectl") { operations, context in
        try operations.rootKubectl(in: context.session)
    }
}

extension MasterOperations {
    /// `/root/.kube/config` and `kubectl` on PATH for root, unless root has its own.
    func rootKubectl(in session: HostSession) throws -> InitPhase.Result {
        guard let admin = try root.readText(ControlPlane.adminKubeconfigPath) else {
            throw HostError(.file, "\(ControlPlane.adminKubeconfigPath) is missing", cause: "the control-plane phase writes it; run 'seed init' again")
        }
        var observed = RootKubectl.Observation()
        if let current = try root.read(RootKubectl.configPath) {
            observed.config = String(decoding: current, as: UTF8.self)
            observed.configMode = root.mode(RootKubectl.configPath)
            observed.configIsKubeSeeds = session.journal.recordsWrite(of: current, at: RootKubectl.configPath)
        }
        observed.kubeDirectoryExists = root.isDirectory(RootKubectl.kubeDirectory)
        observed.linkDirectoryExists = root.isDirectory(RootKubectl.linkDirectory)
        observed.link = root.readLink(RootKubectl.linkPath).map { .link($0) } ?? (root.exists(RootKubectl.linkPath) ? .other : nil)
        observed.binaryPresent = root.isExecutable(RootKubectl.binary)
        observed.otherKubectl = RootKubectl.laterOnPath.first { root.exists($0) }
        let items = RootKubectl.plan(adminKubeconfig: admin, observed)
        let runner = session.runner()
        try runner.apply(items.flatMap(\.steps), observed: NodeObservation())
        let detail = items.map { item in
            item.steps.isEmpty ? "\(item.name): \(item.detail)" : item.steps.map(\.description).joined(separator: ", ")
        }.joined(separator: "; ")
        return InitPhase.Result(state: runner.performed.isEmpty ? .ok : .changed, detail: detail, changes: runner.performed.count)
    }
}

extension InitPhase {
    static let apiServer = InitPhase(name: "api server", skipReason: { $0.controlPlaneStarted ? nil : "not started: binaries missing" }) { operations, context in
        try await operations.apiServerReady(context.masterIP)
    }
}

extension MasterOperations {
    func apiServerReady(_ masterIP: String) async throws -> InitPhase.Result {
        let url = Self.url(masterIP, 6443)
        do {
            try await withClient(url, presenting: "admin") { client in
                try await Readiness.wait(for: "kube-apiserver at \(url)", limit: apiServerTimeout, interval: .seconds(1)) {
                    await Readiness.apiServerReady(client)
                }
            }
        } catch let error as APIError where error.code == .timeout {
            throw APIError(.timeout, error.description, cause: "see: journalctl -u kube-apiserver")
        }
        return InitPhase.Result(state: .ok, detail: "\(url)/readyz ok")
    }
}

extension InitPhase {
    static let bootstrapRBAC = InitPhase(name: "bootstrap rbac", skipReason: needsAPIServer) { operations, context in
        try await operations.bootstrapObjects(context.masterIP, journal: context.journal)
    }
}

extension MasterOperations {
    /// ClusterRoleBindings for TLS bootstrapping and the Secrets of tokens minted before the API server was up.
    func bootstrapObjects(_ masterIP: String, journal: ChangeJournal) async throws -> InitPhase.Result {
        var tokens = try TokenStore(root: root).load()
        let pending = tokens.filter { !$0.uploaded && $0.expires > Date() }
        let created = try await withClient(Self.url(masterIP, 6443), presenting: "admin") { client in
            try await create(BootstrapObjects.initRequests(tokens: pending), with: client)
        }
        if !pending.isEmpty {
            for index in tokens.indices where pending.contains(where: { $0.id == tokens[index].id }) { tokens[index].uploaded = true }
            try TokenStore(root: root).save(tokens, journal: journal)
        }
        let count = BootstrapObjects.bindings.count
        return created.isEmpty ? InitPhase.Result(state: .ok, detail: "\(count) ClusterRoleBindings present")
            : InitPhase.Result(state: .changed, detail: "created \(created.joined(separator: ", "))", changes: created.count)
    }

    /// Creates each object that is not there yet (an existing one, edited or not, is left); returns what it created.
    func create(_ requests: [APIRequest], with client: any APIClient) async throws -> [String] {
        var created: [String] = []
        for request in requests where try await ObjectApplier.apply(request, with: client) == .created {
            created.append(request.object)
        }
        return created
    }
}

extension InitPhase {
    static let clusterDNS = InitPhase(name: "cluster dns", skipReason: needsAPIServer) { operations, context in
        try await operations.clusterDNS(context.config, context.masterIP)
    }
}

extension MasterOperations {
    /// CoreDNS at `clusterDNS`: created once, left alone after.
    func clusterDNS(_ config: ClusterConfig, _ masterIP: String) async throws -> InitPhase.Result {
        let requests = ClusterDNS.requests(config)
        let (created, drift) = try await withClient(Self.url(masterIP, 6443), presenting: "admin") { client -> ([String], String?) in
            let created = try await create(requests, with: client)
            guard !created.contains("Deployment kube-system/coredns") else { return (created, nil) }
            let response = try await client.send(APIRequest(.get, ClusterDNS.deploymentPath, object: "Deployment kube-system/coredns"))
            return (created, response.status == 200 ? ClusterDNS.imageDrift(deployment: response.body, wanted: config.dnsImage) : nil)
        }
        let note = drift.map { "; \($0)" } ?? ""
        return created.isEmpty ? InitPhase.Result(state: .ok, detail: "\(requests.count) objects present (left as they are)\(note)")
            : InitPhase.Result(state: .changed, detail: "created \(created.joined(separator: ", ")) (\(config.dnsImage))\(note)", changes: created.count)
    }
}

extension InitPhase {
    static let record = InitPhase(name: "record") { operations, context in
        try operations.record(context.config, in: context.session)
    }
}

extension MasterOperations {
    /// Records the configuration for `seed join-file` (and to refuse in-place changes later).
    func record(_ config: ClusterConfig, in session: HostSession) throws -> InitPhase.Result {
        let text = config.render()
        if try root.readText(ClusterConfig.recordPath) == text { return InitPhase.Result(state: .ok, detail: ClusterConfig.recordPath) }
        try session.apply([.writeFile(path: ClusterConfig.recordPath, content: text, mode: 0o644)])
        return InitPhase.Result(state: .changed, detail: "wrote \(ClusterConfig.recordPath)", changes: 1)
    }
}
