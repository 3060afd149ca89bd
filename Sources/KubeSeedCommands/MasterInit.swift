import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

extension MasterOperations {
    /// `seed init`: node preparation, PKI, etcd, the control plane, and (once the API server is up)
    /// the objects TLS bootstrapping needs. Returns the exit code.
    /// - Parameters:
    ///   - only: run just these phases, by command name, in `seed init`'s order (`seed init phase NAME…`).
    ///   - skipping: leave these phases out (`--skip-phases`).
    public func initialize(_ requested: ClusterConfig, source: String, replaceBinaries: Bool = false,
                           only: [String]? = nil, skipping: [String] = []) async -> Int32 {
        let command = only == nil ? "seed init" : "seed init phase"
        let phases: [InitPhase]
        do { phases = try InitPhase.select(from: InitPhase.initialization, only: only, skipping: skipping) } catch {
            write("\(command): nothing changed: \(error)\n")
            return 2
        }
        return await run(command, phases, requested, source: source, replaceBinaries: replaceBinaries)
    }

    /// `seed pki`: the PKI phase of `seed init`, with the same configuration.
    public func pki(_ requested: ClusterConfig, source: String) async -> Int32 {
        await run("seed pki", InitPhase.pkiOnly, requested, source: source)
    }

    /// `seed etcd`: the etcd phases of `seed init`, with the same configuration.
    public func etcd(_ requested: ClusterConfig, source: String) async -> Int32 {
        await run("seed etcd", InitPhase.etcdOnly, requested, source: source)
    }

    /// Runs `phases` in order under the host lock with one change journal. Exit codes: 0 done, 1 a phase
    /// failed (every change so far journaled), 2 bad configuration (nothing changed).
    func run(_ command: String, _ phases: [InitPhase], _ requested: ClusterConfig, source: String, replaceBinaries: Bool = false,
             joining: ControlPlaneJoinState? = nil) async -> Int32 {
        let clock = ContinuousClock()
        let started = clock.now
        guard effectiveUID == 0 else { write("\(command): must run as root\n"); return 1 }
        let config: ClusterConfig
        let masterIP: String
        do {
            config = try resolve(requested, source: source, needsName: phases.contains { $0.needsMasterName })
            guard let ip = config.masterIP else {
                throw ConfigError(.missingField, file: source, field: "master.ip", "set master.ip or --master-ip")
            }
            masterIP = ip
        } catch {
            write("\(command): nothing changed: \(error)\n")
            return 2
        }
        if joining == nil, phases.contains(where: { $0.name == InitPhase.pki.name }), let refusal = await legacyEtcdRefusal(command, restartsEtcd: phases.contains { $0.name == InitPhase.controlPlane.name }) {
            write("\(command): nothing changed: \(refusal)\n")
            return 2
        }
        write("\(command): cluster \(config.name) (\(config.kubernetesVersion)), master \(config.masterName ?? "-") \(masterIP), \(config.keyAlgorithm.displayName) keys\n")
        let progress = PhaseProgress(total: phases.count, write: write)
        let context: InitContext
        do {
            context = try await HostSession.with(root, effects: effects, at: location) { session in
                let context = InitContext(config: config, masterIP: masterIP, session: session)
                // The control-plane phase sets it again; a run without that phase goes by the binaries.
                context.controlPlaneStarted = controlPlaneBinariesMissing().isEmpty
                context.replaceBinaries = replaceBinaries
                context.joining = joining
                for phase in phases { try await progress.run(phase, self, context) }
                return context
            }
        } catch let failure as PhaseFailure {
            write("\(command): stopped at '\(failure.phase)' after \(progress.changes) changes (\(failure.underlying)); every change so far is journaled:\n")
            write("  fix the cause and run '\(command)' again to finish, or 'seed-agent reset' to undo\n")
            return 1
        } catch let error as HostSession.OpenError {
            write("\(command): nothing changed: \(error)\n")
            return 1
        } catch {
            write("\(command): \(error)\n")
            return 1
        }
        let elapsed = clock.now - started
        let took = "\(progress.changes) changes, \(elapsed.components.seconds).\(elapsed.components.attoseconds / 100_000_000_000_000_000) s"
        guard phases.contains(where: { $0.name == InitPhase.controlPlane.name }) else {
            write("\(command): \(progress.changes == 0 ? "unchanged" : "done") (\(took))\n")
            return 0
        }
        let endpoint = config.apiServerEndpoint ?? ""
        if !context.controlPlaneStarted {
            write("\(command): everything but the control-plane binaries is in place (\(took)).\n")
            write("  Put kube-apiserver, kube-controller-manager and kube-scheduler in \(NodePaths.binDir), or run\n")
            write("  'seed init --server-archive kubernetes-server-linux-amd64.tar.gz'; then mint join files with 'seed join-file NODE'.\n")
        } else if progress.changes == 0 {
            write("\(command): unchanged: control plane ready at \(endpoint) (\(took))\n")
        } else {
            write("\(command): control plane ready at \(endpoint) (\(took)); next: 'seed join-file NODE' for each node\n")
        }
        return 0
    }

    /// Why this master's PKI, made before etcd had a CA of its own, cannot be moved to one by this run
    /// (`nil` when it is not that old, or etcd has this one member and the pki phase moves it in place).
    /// With several members each would have to trust the new CA before any presents it; KubeSeed moves
    /// one member only, so the others leave first and join again.
    /// - Parameter restartsEtcd: whether the run also writes etcd's and the API server's units (`seed init`), as the move needs.
    func legacyEtcdRefusal(_ command: String, restartsEtcd: Bool) async -> String? {
        var store = PKIStore(root: root)
        store.directory = certDirectory
        guard (try? store.legacyEtcdLayout()) == true else { return nil }
        let old = "this master's etcd trusts the cluster CA, which also signs every kubelet's certificate (a cluster made before KubeSeed gave etcd a CA of its own)"
        guard restartsEtcd else { return "\(old); run 'seed init': it moves etcd to a CA of its own and restarts etcd and the API server with it" }
        let members: [EtcdMember]
        do { members = try await localEtcdMembers() } catch {
            return "\(old); moving it needs etcd running to count its members, and it does not answer (\(error)): start it ('systemctl start etcd') and run '\(command)' again"
        }
        guard members.count > 1 else { return nil }
        let own = (try? recordedConfig())??.masterIP ?? ""
        let others = members.filter { !$0.hasPeer(ip: own) }.map { "\($0.displayName) (\($0.peerHost ?? "?"))" }
        return "\(old), and etcd has \(members.count) members. Move it member by member: "
            + "1. on \(others.joined(separator: " and ")): 'seed-agent reset' (each leaves etcd; move its etcd data directory away after); "
            + "2. here: '\(command)' again (etcd gets a CA of its own and new certificates, its data kept); "
            + "3. for each of them, here: 'seed join-file NAME --ip IP --role control-plane', and there: 'seed join FILE'"
    }

    func etcdHealth(_ masterIP: String) async throws -> InitPhase.Result {
        let url = Self.url(masterIP, 2379)
        try await withClient(url, identity: etcdIdentity()) { client in
            try await Readiness.wait(for: "etcd at \(url)", limit: etcdTimeout) { await Readiness.etcdHealthy(client) }
        }
        return InitPhase.Result(state: .ok, detail: "\(url)/health answers healthy over mutual TLS (apiserver-etcd-client)")
    }

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

    /// Writes the control plane's files and units, enables the units, and starts them when their binaries are there.
    func controlPlane(_ context: InitContext) throws -> (InitPhase.Result, runnable: Bool) {
        let files = ControlPlane.files(context.cluster, caPEM: try identity("admin").caPEM, credentials: try controlPlaneCredentials(),
                                       encryptionKey: try encryptionKey(shared: context.joining?.secrets[SharedSecretFile.encryptionKey].map(Array.init)))
        let units = Self.controlPlaneUnits
        let observed = try ComponentObserver(root: root, services: effects.services).observe(files, units: units)
        let plan = ComponentPlanner.plan(files, observed, units: units)
        let runner = context.session.runner()
        try runner.apply(plan.steps, observed: NodeObservation())
        let runnable = units.allSatisfy { observed.binaries.contains($0.binary!) }
        let written = plan.steps.filter { if case .writeFile = $0 { return true }; return false }.count
        var detail = written == 0 ? "\(files.count) files up to date" : "\(written) of \(files.count) files written"
        let activation = runner.performed.filter { if case .writeFile = $0.step { return false }; return true }
        if !activation.isEmpty { detail += "; " + activation.map { "\($0.step)" }.joined(separator: ", ") }
        if !runnable { detail += "; units enabled, not started: binaries missing" }
        let state: InitPhase.Result.State = runner.performed.isEmpty ? (runnable ? .ok : .waiting) : .changed
        return (InitPhase.Result(state: state, detail: detail, changes: runner.performed.count), runnable)
    }

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

    /// Records the configuration for `seed join-file` (and to refuse in-place changes later).
    func record(_ config: ClusterConfig, in session: HostSession) throws -> InitPhase.Result {
        let text = config.render()
        if try root.readText(ClusterConfig.recordPath) == text { return InitPhase.Result(state: .ok, detail: ClusterConfig.recordPath) }
        try session.apply([.writeFile(path: ClusterConfig.recordPath, content: text, mode: 0o644)])
        return InitPhase.Result(state: .changed, detail: "wrote \(ClusterConfig.recordPath)", changes: 1)
    }
}
