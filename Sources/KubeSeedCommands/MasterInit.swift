import Foundation
import Glibc
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// The first master's operations (`seed init`, `seed join-file`, `seed token`), apart from argument
/// parsing, so tests drive them against a temporary root with fake effects.
public struct MasterOperations {
    public var root: HostRoot
    public var effects: HostEffects
    public var effectiveUID: UInt32
    public var journalPath = Journal.defaultPath
    public var lockPath = HostLock.defaultPath
    public var certDirectory = ControlPlane.certDir
    /// Where each progress line goes.
    public var write: (String) -> Void = say
    public var etcdTimeout: Duration = .seconds(60)
    public var apiServerTimeout: Duration = .seconds(180)

    public init(root: HostRoot, effects: HostEffects, effectiveUID: UInt32) {
        self.root = root
        self.effects = effects
        self.effectiveUID = effectiveUID
    }

    public static let controlPlaneUnits = zip(ControlPlane.unitNames, ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]).map {
        ComponentPlanner.ManagedUnit($0.0, binary: $0.1, installHint: "kubernetes-server-linux-amd64.tar.gz: seed init --server-archive FILE")
    }

    /// What one step of `seed init` did.
    struct StepResult {
        enum State: String { case ok, changed, waiting, skipped }
        var state: State
        var detail: String
        var changes = 0
    }

    /// Prints `[n/N] step  state  detail (ms)` as each step ends, and counts changes.
    final class Progress {
        let total: Int
        let write: (String) -> Void
        var index = 0
        var changes = 0
        var waiting: [String] = []

        init(total: Int, write: @escaping (String) -> Void) {
            self.total = total
            self.write = write
        }

        func run(_ name: String, _ body: () async throws -> StepResult) async throws {
            index += 1
            let clock = ContinuousClock()
            let started = clock.now
            let label = "  [\(index)/\(total)] " + name.padding(toLength: 16, withPad: " ", startingAt: 0)
            do {
                let result = try await body()
                changes += result.changes
                if result.state == .waiting { waiting.append(name) }
                let elapsed = clock.now - started
                write(label + result.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + result.detail + " (\(elapsed.milliseconds) ms)\n")
            } catch {
                write(label + "FAILED   \(error)\n")
                throw StepFailure(step: name)
            }
        }
    }

    struct StepFailure: Error { var step: String }

    func hostname() -> String {
        (((try? root.readText("/proc/sys/kernel/hostname")) ?? nil) ?? "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// Fills in the master's name and IP and checks them against what an earlier `seed init` recorded.
    public func resolve(_ config: ClusterConfig, source: String) throws -> ClusterConfig {
        var config = config
        if config.masterName == nil {
            let name = hostname()
            guard JoinFile.isValidNodeName(name) else {
                throw ConfigError(.invalidValue, file: source, field: "master.name", "the host name '\(name)' is not a valid node name; set master.name or --name")
            }
            config.masterName = name
        }
        if config.masterIP == nil {
            let route = (try? effects.network?.defaultRoute()) ?? nil
            guard let address = route?.address else {
                throw ConfigError(.missingField, file: source, field: "master.ip", "no default route to take the master IP from; set master.ip or --master-ip")
            }
            config.masterIP = address
        }
        if let before = try recordedConfig() {
            let fixed: [(String, String, String)] = [
                ("cluster.name", before.name, config.name), ("cluster.serviceCIDR", before.serviceCIDR, config.serviceCIDR),
                ("cluster.podCIDR", before.podCIDR, config.podCIDR), ("cluster.clusterDomain", before.clusterDomain, config.clusterDomain),
                ("cluster.clusterDNS", before.clusterDNS, config.clusterDNS), ("master.ip", before.masterIP ?? "", config.masterIP ?? ""),
                ("master.name", before.masterName ?? "", config.masterName ?? ""),
            ]
            for (field, old, new) in fixed where old != new {
                throw ConfigError(.invalidValue, file: source, field: field,
                                  "this master was set up with \(old) (recorded in \(ClusterConfig.recordPath)); it cannot change to \(new) in place — run 'seed-agent reset' first to start over")
            }
        }
        return config
    }

    /// The configuration an earlier `seed init` recorded; `nil` before the first.
    func recordedConfig() throws -> ClusterConfig? {
        guard let text = try root.readText(ClusterConfig.recordPath) else { return nil }
        return try ClusterConfig.parse(text, file: ClusterConfig.recordPath)
    }

    /// `seed init`: node preparation, PKI, etcd, the control plane, and (once the API server is up)
    /// the objects TLS bootstrapping needs. Returns the exit code.
    public func initialize(_ requested: ClusterConfig, source: String, serverArchive: String? = nil, sha256: String? = nil,
                           replaceBinaries: Bool = false) async -> Int32 {
        let clock = ContinuousClock()
        let started = clock.now
        guard effectiveUID == 0 else { write("seed init: must run as root\n"); return 1 }
        let config: ClusterConfig
        do { config = try resolve(requested, source: source) } catch {
            write("seed init: nothing changed: \(error)\n")
            return 2
        }
        guard let algorithm = KeyAlgorithm(rawValue: config.keyAlgorithm), let masterIP = config.masterIP else { return 2 }
        let cluster = config.controlPlaneCluster(masterIP: masterIP)
        write("seed init: cluster \(config.name) (\(config.kubernetesVersion)), master \(config.masterName ?? "") \(masterIP), \(algorithm == .rsa2048 ? "RSA-2048" : "ECDSA P-256") keys\n")
        let lock: Int32
        do { lock = try HostLock.acquire(root, path: lockPath) } catch {
            write("seed init: nothing changed: \(error)\n")
            return 1
        }
        defer { close(lock) }
        let progress = Progress(total: 9, write: write)
        var binariesPresent = false
        var controlPlaneStarted = false
        do {
            try await progress.run("node") { try prepareNode(config, cluster) }
            let applier = try NodeApplier(root: root, effects: effects, journalPath: journalPath)
            try await progress.run("pki") { try pki(config, algorithm: algorithm, journal: applier) }
            try await progress.run("etcd") {
                let performed = try EtcdSetup(root: root, effects: effects, journalPath: journalPath)
                    .converge(this: EtcdUnit.Member(name: config.masterName!, ip: masterIP), cluster: [EtcdUnit.Member(name: config.masterName!, ip: masterIP)])
                return performed.isEmpty ? StepResult(state: .ok, detail: "active with mutual TLS")
                    : StepResult(state: .changed, detail: performed.map { "\($0.step)" }.joined(separator: ", "), changes: performed.count)
            }
            try await progress.run("etcd health") { try await etcdHealth(masterIP) }
            try await progress.run("binaries") {
                try installBinaries(serverArchive, sha256: sha256, replace: replaceBinaries, journal: applier)
            }
            try await progress.run("control plane") {
                let (result, runnable) = try controlPlane(config, cluster)
                binariesPresent = runnable
                controlPlaneStarted = runnable
                return result
            }
            try await progress.run("api server") {
                guard controlPlaneStarted else { return StepResult(state: .skipped, detail: "not started: binaries missing") }
                return try await apiServerReady(masterIP)
            }
            try await progress.run("bootstrap rbac") {
                guard controlPlaneStarted else { return StepResult(state: .skipped, detail: "needs the API server") }
                return try await bootstrapObjects(masterIP)
            }
            try await progress.run("record") { try record(config, journal: applier) }
        } catch let failure as StepFailure {
            write("seed init: stopped at '\(failure.step)' after \(progress.changes) changes; every change so far is journaled:\n")
            write("  fix the cause and run 'seed init' again to finish, or 'seed-agent reset' to undo\n")
            return 1
        } catch {
            write("seed init: \(error)\n")
            return 1
        }
        let elapsed = clock.now - started
        let took = "\(progress.changes) changes, \(elapsed.components.seconds).\(elapsed.components.attoseconds / 100_000_000_000_000_000) s"
        let endpoint = config.apiServerEndpoint ?? ""
        if !binariesPresent {
            write("seed init: everything but the control-plane binaries is in place (\(took)).\n")
            write("  Put kube-apiserver, kube-controller-manager and kube-scheduler in \(NodePaths.binDir), or run\n")
            write("  'seed init --server-archive kubernetes-server-linux-amd64.tar.gz'; then mint join files with 'seed join-file NODE'.\n")
        } else if progress.changes == 0 {
            write("seed init: unchanged: control plane ready at \(endpoint) (\(took))\n")
        } else {
            write("seed init: control plane ready at \(endpoint) (\(took)); next: 'seed join-file NODE' for each node\n")
        }
        return 0
    }

    func prepareNode(_ config: ClusterConfig, _ cluster: ControlPlane.Cluster) throws -> StepResult {
        var settings = config.host
        for directory in ControlPlane.directories(cluster) where !settings.directories.contains(directory) {
            settings.directories.append(directory)
        }
        var agent = AgentOperations(root: root, effects: effects, settings: settings, effectiveUID: effectiveUID)
        agent.journalPath = journalPath
        agent.lockPath = lockPath
        let outcome = agent.apply(lockHeld: true)
        guard outcome.exitCode == 0 else {
            throw HostError(.file, "node preparation failed", cause: outcome.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return outcome.changes == 0 ? StepResult(state: .ok, detail: "already prepared")
            : StepResult(state: .changed, detail: "\(outcome.changes) changes (modules, sysctls, swap, SELinux, time, directories)", changes: outcome.changes)
    }

    func pki(_ config: ClusterConfig, algorithm: KeyAlgorithm, journal: NodeApplier) throws -> StepResult {
        var parameters = PKIParameters(masterIPs: [config.masterIP!], etcdIPs: [config.masterIP!], serviceCIDR: config.serviceCIDR,
                                       clusterDomain: config.clusterDomain)
        parameters.extraAPIServerIPs = config.extraSANs.filter(IPAddress.isValid)
        parameters.extraAPIServerNames = config.extraSANs.filter { !IPAddress.isValid($0) }
        var store = PKIStore(root: root)
        store.directory = certDirectory
        let entries = try store.ensure(parameters, algorithm: algorithm, journal: journal)
        let created = entries.filter { $0.outcome == .created }.count
        return created == 0 ? StepResult(state: .ok, detail: "\(entries.count) reused")
            : StepResult(state: .changed, detail: "\(created) created, \(entries.count - created) reused", changes: created)
    }

    func identity(_ certificate: String) throws -> TLSIdentity {
        func read(_ name: String) throws -> String {
            guard let text = try root.readText("\(certDirectory)/\(name)") else { throw HostError(.file, "\(certDirectory)/\(name) is missing", cause: "run 'seed init' again") }
            return text
        }
        return TLSIdentity(caPEM: try read("ca.pem"), certificatePEM: try read("\(certificate).pem"), keyPEM: try read("\(certificate)-key.pem"))
    }

    static func url(_ ip: String, _ port: Int) -> String { "https://\(ip.contains(":") ? "[\(ip)]" : ip):\(port)" }

    /// Runs `body` with a mutual-TLS client presenting `certificate`, and closes the client after.
    func withClient<T>(_ baseURL: String, presenting certificate: String, connectTimeout: Duration = .seconds(3),
                       _ body: (MutualTLSClient) async throws -> T) async throws -> T {
        let client = try MutualTLSClient(baseURL: baseURL, identity: identity(certificate), connectTimeout: connectTimeout)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    func etcdHealth(_ masterIP: String) async throws -> StepResult {
        let url = Self.url(masterIP, 2379)
        try await withClient(url, presenting: "apiserver-etcd-client") { client in
            try await Readiness.wait(for: "etcd at \(url)", limit: etcdTimeout) { await Readiness.etcdHealthy(client) }
        }
        return StepResult(state: .ok, detail: "\(url)/health answers healthy over mutual TLS (apiserver-etcd-client)")
    }

    func installBinaries(_ archive: String?, sha256: String?, replace: Bool, journal: NodeApplier) throws -> StepResult {
        if let archive {
            let installed = try BinaryInstaller(root: root).install(archive: archive, sha256: sha256, wanted: KubernetesArchive.controlPlaneBinaries,
                                                                  replace: replace, journal: journal)
            let changed = installed.filter(\.changed)
            return changed.isEmpty ? StepResult(state: .ok, detail: "\(installed.count) binaries in \(NodePaths.binDir) match \(archive)")
                : StepResult(state: .changed, detail: "installed \(changed.map(\.name).joined(separator: ", ")) from \(archive)", changes: changed.count)
        }
        let missing = Self.controlPlaneUnits.compactMap(\.binary).filter { access(root.resolve("\(NodePaths.binDir)/\($0)"), X_OK) != 0 }
        return missing.isEmpty ? StepResult(state: .ok, detail: "control-plane binaries present in \(NodePaths.binDir)")
            : StepResult(state: .waiting, detail: "missing in \(NodePaths.binDir): \(missing.joined(separator: ", ")) (no --server-archive given)")
    }

    /// Writes the control plane's files and units, enables the units, and starts them when their binaries are there.
    func controlPlane(_ config: ClusterConfig, _ cluster: ControlPlane.Cluster) throws -> (StepResult, runnable: Bool) {
        let files = ControlPlane.files(cluster, caPEM: try identity("admin").caPEM, credentials: try controlPlaneCredentials(),
                                       encryptionKey: try encryptionKey())
        let units = Self.controlPlaneUnits
        let observed = try ComponentObserver(root: root, services: effects.services).observe(files, units: units)
        let plan = ComponentPlanner.plan(files, observed, units: units)
        let applier = try NodeApplier(root: root, effects: effects, journalPath: journalPath)
        try applier.apply(plan.steps, observed: NodeObservation())
        let runnable = units.allSatisfy { observed.binaries.contains($0.binary!) }
        let written = plan.steps.filter { if case .writeFile = $0 { return true }; return false }.count
        var detail = written == 0 ? "\(files.count) files up to date" : "\(written) of \(files.count) files written"
        let activation = applier.performed.filter { if case .writeFile = $0.step { return false }; return true }
        if !activation.isEmpty { detail += "; " + activation.map { "\($0.step)" }.joined(separator: ", ") }
        if !runnable { detail += "; units enabled, not started: binaries missing" }
        let state: StepResult.State = applier.performed.isEmpty ? (runnable ? .ok : .waiting) : .changed
        return (StepResult(state: state, detail: detail, changes: applier.performed.count), runnable)
    }

    func controlPlaneCredentials() throws -> [String: ControlPlane.Credential] {
        var credentials: [String: ControlPlane.Credential] = [:]
        for name in ["admin", "kube-controller-manager", "kube-scheduler", "kube-proxy"] {
            let pair = try identity(name)
            credentials[name] = ControlPlane.Credential(certificatePEM: pair.certificatePEM, keyPEM: pair.keyPEM)
        }
        return credentials
    }

    /// The key already in the encryption config, or a new random one; never a silent replacement.
    func encryptionKey() throws -> [UInt8] {
        if let existing = try root.readText(ControlPlane.encryptionConfigPath) {
            guard let key = ControlPlane.encryptionKey(in: existing) else {
                throw HostError(.file, "\(ControlPlane.encryptionConfigPath) has no aescbc key KubeSeed can keep",
                                cause: "Secrets stored under its key would become unreadable; restore the file or move it away if the cluster holds no data yet")
            }
            return key
        }
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    func apiServerReady(_ masterIP: String) async throws -> StepResult {
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
        return StepResult(state: .ok, detail: "\(url)/readyz ok")
    }

    /// ClusterRoleBindings for TLS bootstrapping and the Secrets of tokens minted before the API server was up.
    func bootstrapObjects(_ masterIP: String) async throws -> StepResult {
        var tokens = try TokenStore(root: root).load()
        let pending = tokens.filter { !$0.uploaded && $0.expires > Date() }
        let created = try await withClient(Self.url(masterIP, 6443), presenting: "admin") { client in
            var created: [String] = []
            for request in BootstrapObjects.initRequests(tokens: pending) {
                if try await ObjectApplier.apply(request, with: client) == .created { created.append(request.object) }
            }
            return created
        }
        if !pending.isEmpty {
            for index in tokens.indices where pending.contains(where: { $0.id == tokens[index].id }) { tokens[index].uploaded = true }
            try TokenStore(root: root).save(tokens, journal: try NodeApplier(root: root, effects: effects, journalPath: journalPath))
        }
        let count = BootstrapObjects.bindings.count
        return created.isEmpty ? StepResult(state: .ok, detail: "\(count) ClusterRoleBindings present")
            : StepResult(state: .changed, detail: "created \(created.joined(separator: ", "))", changes: created.count)
    }

    /// Records the configuration for `seed join-file` (and to refuse in-place changes later).
    func record(_ config: ClusterConfig, journal: NodeApplier) throws -> StepResult {
        let text = config.render()
        if try root.readText(ClusterConfig.recordPath) == text { return StepResult(state: .ok, detail: ClusterConfig.recordPath) }
        try journal.apply([.writeFile(path: ClusterConfig.recordPath, content: text, mode: 0o644)], observed: NodeObservation())
        return StepResult(state: .changed, detail: "wrote \(ClusterConfig.recordPath)", changes: 1)
    }
}

/// etcd under systemd with KubeSeed's unit (shared by `seed etcd` and `seed init`).
struct EtcdSetup {
    var root: HostRoot
    var effects: HostEffects
    var journalPath: String

    static let neededCertificates = ["ca.pem", "etcd-server.pem", "etcd-server-key.pem", "etcd-peer.pem", "etcd-peer-key.pem"]

    /// Writes the unit when it differs, then reloads, enables, and starts or restarts etcd; the
    /// Type=notify start job ends only when etcd is ready. Returns the steps performed.
    func converge(this member: EtcdUnit.Member, cluster: [EtcdUnit.Member]) throws -> [NodeApplier.PerformedStep] {
        let missing = Self.neededCertificates.map { "\(ControlPlane.certDir)/\($0)" }.filter { !root.exists($0) }
            + ["/data/k8s/etcd/data", "/data/k8s/etcd/wal"].filter { !root.isDirectory($0) }
        guard missing.isEmpty else {
            throw HostError(.file, "missing \(missing.joined(separator: ", "))", cause: "run 'seed-agent apply' and 'seed pki' first")
        }
        guard let services = effects.services else { throw HostError(.dbus, "systemd is not reachable", cause: effects.busError) }
        let unit = EtcdUnit.render(this: member, cluster: cluster)
        let changed = try root.readText(EtcdUnit.path) != unit
        let state = try services.unitState("etcd.service")
        var steps: [Step] = []
        if changed { steps += [.writeFile(path: EtcdUnit.path, content: unit, mode: 0o644), .reloadSystemd] }
        if !state.isEnabled { steps.append(.enableUnit("etcd.service")) }
        if changed && state.isActive { steps.append(.restartUnit("etcd.service")) } else if !state.isActive { steps.append(.startUnit("etcd.service")) }
        let applier = try NodeApplier(root: root, effects: effects, journalPath: journalPath)
        try applier.apply(steps, observed: NodeObservation())
        let after = try services.unitState("etcd.service")
        guard after.activeState == "active" else {
            throw HostError(.systemJob, "etcd is \(after.activeState) (\(after.subState))", cause: "see: journalctl -u etcd")
        }
        return applier.performed
    }
}

extension MasterOperations {
    public static let joinFileDirectory = "/var/lib/kubeseed/join-files"

    /// `seed join-file`: a new token and a join file for one node (0600, the CA embedded), checked with the
    /// agent's own parser before it is written. The token's Secret is created now when the API server
    /// answers, else by the next `seed init`.
    public func mintJoinFile(_ request: JoinRequest, output: String?, now: Date = Date()) async -> Int32 {
        guard effectiveUID == 0 else { write("seed join-file: must run as root\n"); return 1 }
        let path = output ?? "\(Self.joinFileDirectory)/\(request.nodeName).yaml"
        let token = BootstrapToken.generate()
        let text: String
        let cluster: ClusterConfig
        do {
            guard let recorded = try recordedConfig() else {
                throw HostError(.file, "\(ClusterConfig.recordPath) is missing", cause: "run 'seed init' on this master first")
            }
            cluster = recorded
            guard let caPEM = try root.readText("\(certDirectory)/ca.pem") else {
                throw HostError(.file, "\(certDirectory)/ca.pem is missing", cause: "run 'seed init' on this master first")
            }
            text = JoinFile.render(cluster: cluster, caPEM: caPEM, token: token, request: request)
            // The agent must accept what we hand out; a failure here is a KubeSeed bug, reported as such.
            _ = try JoinFile.parse(text, file: path, now: now)
        } catch {
            write("seed join-file: nothing written: \(error)\n")
            return 1
        }
        let lock: Int32
        do { lock = try HostLock.acquire(root, path: lockPath) } catch {
            write("seed join-file: nothing written: \(error)\n")
            return 1
        }
        defer { close(lock) }
        var record = TokenRecord(token: token, expires: request.expires, node: request.nodeName)
        let expires = Timestamp.string(request.expires)
        do {
            let journal = try NodeApplier(root: root, effects: effects, journalPath: journalPath)
            let directory = (path as NSString).deletingLastPathComponent
            if !root.isDirectory(directory) {
                try journal.apply([.createDirectory(path: directory, mode: 0o700)], observed: NodeObservation())
            }
            record.uploaded = await uploadToken(record)
            let store = TokenStore(root: root)
            try store.save(try store.load() + [record], journal: journal)
            try journal.apply([.writeFile(path: path, content: text, mode: 0o600)], observed: NodeObservation())
        } catch {
            write("seed join-file: \(error)\n")
            return 1
        }
        write("seed join-file: wrote \(path) (0600) for node \(request.nodeName): API server \(cluster.apiServerEndpoint ?? ""), token \(token) expires \(expires)\n")
        write(record.uploaded ? "  the token's Secret is in kube-system\n"
                              : "  the API server is not answering: 'seed init' creates the token's Secret once it is up\n")
        write("  copy it to the node as /etc/kubeseed/join.yaml (root, 0600); the seed-agent.path unit starts the agent\n")
        return 0
    }

    /// Creates the token's Secret if the API server answers within a few seconds.
    func uploadToken(_ record: TokenRecord) async -> Bool {
        let recorded = (try? recordedConfig()) ?? nil
        guard let masterIP = recorded?.masterIP,
              root.exists("\(certDirectory)/admin.pem") else { return false }
        let request = BootstrapObjects.createTokenSecret(record.token, expires: record.expires, node: record.node)
        // The API server runs on this host: a second is plenty to connect (AsyncHTTPClient retries a
        // refused connection until the connect timeout).
        let outcome = try? await withClient(Self.url(masterIP, 6443), presenting: "admin", connectTimeout: .seconds(1)) { client in
            try await ObjectApplier.apply(request, with: client)
        }
        return outcome == .created || outcome == .exists
    }

    /// `seed token list`: the tokens minted here, without their secrets.
    public func listTokens(now: Date = Date()) -> Int32 {
        let tokens: [TokenRecord]
        do { tokens = try TokenStore(root: root).load() } catch {
            write("seed token list: \(error)\n")
            return 1
        }
        if tokens.isEmpty { write("seed token list: no tokens (mint one with 'seed join-file NODE')\n"); return 0 }
        write("ID      EXPIRES               STATE    SECRET IN CLUSTER  NODE\n")
        for token in tokens {
            let state = token.expires > now ? "valid" : "expired"
            write("\(token.id)  \(Timestamp.string(token.expires))  \(state.padding(toLength: 7, withPad: " ", startingAt: 0))  "
                  + "\((token.uploaded ? "yes" : "pending").padding(toLength: 17, withPad: " ", startingAt: 0))  \(token.node)\n")
        }
        return 0
    }

    /// `seed token delete ID`: deletes the token's Secret (so it stops working) and forgets the token.
    /// Refuses, changing nothing, when the Secret exists and the API server cannot be reached.
    public func deleteToken(id: String) async -> Int32 {
        guard effectiveUID == 0 else { write("seed token delete: must run as root\n"); return 1 }
        let lock: Int32
        do { lock = try HostLock.acquire(root, path: lockPath) } catch {
            write("seed token delete: nothing changed: \(error)\n")
            return 1
        }
        defer { close(lock) }
        do {
            let store = TokenStore(root: root)
            var tokens = try store.load()
            guard let token = tokens.first(where: { $0.id == id }) else {
                write("seed token delete: no token \(id) (see 'seed token list')\n")
                return 1
            }
            if token.uploaded {
                guard let masterIP = try recordedConfig()?.masterIP else {
                    throw HostError(.file, "no master IP in \(ClusterConfig.recordPath)")
                }
                let outcome = try await withClient(Self.url(masterIP, 6443), presenting: "admin") { client in
                    try await ObjectApplier.apply(BootstrapObjects.deleteTokenSecret(id: id), with: client)
                }
                write("  \(outcome == .deleted ? "deleted" : "already gone")  Secret kube-system/bootstrap-token-\(id)\n")
            }
            tokens.removeAll { $0.id == id }
            try store.save(tokens, journal: try NodeApplier(root: root, effects: effects, journalPath: journalPath))
            write("seed token delete: token \(id) (node \(token.node)) deleted\n")
            return 0
        } catch {
            write("seed token delete: nothing changed: \(error)\n")
            return 1
        }
    }
}
