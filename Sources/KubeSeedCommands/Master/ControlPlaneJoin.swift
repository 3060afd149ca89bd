import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI
import X509

/// The files every master shares, as sealed in a control-plane join file.
enum SharedSecretFile {
    static let caKey = "ca-key.pem"
    /// The etcd CA, certificate and key: the join file carries only the cluster CA, and etcd trusts only this one.
    static let etcdCACertificate = EtcdUnit.caFile
    static let etcdCAKey = "\(ClusterPKI.etcdCAName)-key.pem"
    static let serviceAccountKey = "sa.key"
    static let serviceAccountPublicKey = "sa.pub"
    /// The 32 raw bytes of the encryption config's aescbc key: every API server must have the same,
    /// or Secrets written through one are unreadable through another.
    static let encryptionKey = "encryption-key"
    /// The recorded cluster configuration of the minting master (authenticated with the rest).
    static let cluster = "cluster.yaml"
    static let all = [caKey, etcdCACertificate, etcdCAKey, serviceAccountKey, serviceAccountPublicKey, encryptionKey, cluster]
    /// Copied as they are from the minting master's certificate directory.
    static let pkiFiles = [caKey, etcdCACertificate, etcdCAKey, serviceAccountKey, serviceAccountPublicKey]
}

/// What a control-plane join found before it changed anything: the opened secrets, and the etcd
/// cluster as a peer reported it.
final class ControlPlaneJoinState {
    let join: JoinFile
    let secrets: [String: Data]
    /// A client certificate for etcd made in memory from the shared etcd CA (nothing on disk yet), which
    /// verifies the peers with the etcd CA too: no certificate the cluster CA signed (a kubelet's) passes.
    let etcdIdentity: TLSIdentity
    /// Peers' client endpoints (`https://IP:2379`) from the join file's API servers.
    let peerEndpoints: [String]

    init(join: JoinFile, secrets: [String: Data], etcdIdentity: TLSIdentity, peerEndpoints: [String]) {
        self.join = join
        self.secrets = secrets
        self.etcdIdentity = etcdIdentity
        self.peerEndpoints = peerEndpoints
    }
}

extension InitPhase {
    /// `seed join` on a new master: the shared secrets first, then `seed init`'s phases with etcd
    /// joined instead of founded (CoreDNS is the first master's, so it is not repeated).
    static let controlPlaneJoin: [InitPhase] = [.node, .sharedSecrets, .pki, .etcdMember, .etcdHealth, .binaries, .controlPlane, .rootKubectl,
                                                .apiServer, .bootstrapRBAC, .record, .masterNode, .nodeRoles]

    static let sharedSecrets = InitPhase(name: "shared secrets", needsMasterName: false, skipReason: onlyInAJoin) { operations, context in
        try operations.writeSharedSecrets(context.joining!, in: context.session)
    }

    static let etcdMember = InitPhase(name: "etcd member", skipReason: onlyInAJoin) { operations, context in
        try await operations.joinEtcd(context.joining!, context)
    }
}

extension MasterOperations {
    /// Seals what a new master needs for `request` (its node, a deadline) under a new one-time key.
    /// `endpoints` and `caPEM` are the join file's: they are bound to the secrets with the node and the deadline.
    func sealSharedSecrets(node: String, ip: String, endpoints: [String], caPEM: String, expires: Date) throws -> (ControlPlaneSecrets, SealedSecrets.Key) {
        guard let cluster = try root.read(ClusterConfig.recordPath) else {
            throw HostError(.file, "\(ClusterConfig.recordPath) is missing", cause: "run 'seed init' on this master first")
        }
        var files: [String: Data] = [SharedSecretFile.cluster: cluster]
        for name in SharedSecretFile.pkiFiles {
            guard let data = try root.read("\(certDirectory)/\(name)") else {
                throw HostError(.file, "\(certDirectory)/\(name) is missing", cause: "a control-plane join file needs this master's full PKI; run 'seed init' again")
            }
            files[name] = data
        }
        guard let text = try root.readText(ControlPlane.encryptionConfigPath), let key = ControlPlane.encryptionKey(in: text) else {
            throw HostError(.file, "\(ControlPlane.encryptionConfigPath) is missing or has no aescbc key", cause: "run 'seed init' again on this master")
        }
        files[SharedSecretFile.encryptionKey] = Data(key)
        let recorded = try recordedConfig()
        let oneTimeKey = SealedSecrets.Key.generate()
        let sealed = try SealedSecrets.seal(files, key: oneTimeKey, cluster: recorded?.name ?? "", node: Self.sealedBinding(node, ip, endpoints: endpoints, caPEM: caPEM), expires: expires)
        return (ControlPlaneSecrets(sealed: sealed.sealed, expires: expires), oneTimeKey)
    }

    /// What the sealed secrets are bound to besides the cluster and the deadline: every other field of the
    /// join file `seed join` acts on (the master's name and IP, the API servers whose hosts it asks etcd
    /// through, the CA it writes), so a file edited in any of them does not open.
    static func sealedBinding(_ name: String, _ ip: String, endpoints: [String], caPEM: String) -> String {
        "\(name) \(ip)\nendpoints=\(endpoints.joined(separator: ","))\nca-sha256=\(ChangeJournal.sha256(Data(caPEM.utf8)))"
    }

    /// `seed join FILE`: makes this machine a master of the cluster that minted FILE. Exit codes: 0 done,
    /// 1 a phase failed (every change so far journaled; run it again), 2 bad input (nothing changed here
    /// or in etcd).
    public func joinControlPlane(joinPath: String, keyText: String, serverArchive: String? = nil, sha256: String? = nil,
                                 replaceBinaries: Bool = false, now: Date = Date()) async -> Int32 {
        guard effectiveUID == 0 else { write("seed join: must run as root\n"); return 1 }
        let state: ControlPlaneJoinState
        var config: ClusterConfig
        do {
            (state, config) = try await prepareJoin(joinPath: joinPath, keyText: keyText, now: now)
        } catch {
            write("seed join: nothing changed: \(error)\n")
            return 2
        }
        // The archive is this host's (the sealed record may name the first master's path).
        config.serverArchive = serverArchive
        config.serverArchiveSHA256 = sha256
        return await run("seed join", InitPhase.controlPlaneJoin, config, source: joinPath, replaceBinaries: replaceBinaries, joining: state)
    }

    /// Everything `seed join` checks before it changes anything: the file, the key, the secrets, this
    /// host, and the etcd cluster. Every failure is bad input (exit 2).
    func prepareJoin(joinPath: String, keyText: String, now: Date) async throws -> (ControlPlaneJoinState, ClusterConfig) {
        guard let text = try root.readText(joinPath) else { throw ConfigError(.unreadable, file: joinPath, "no such file") }
        let join = try JoinFile.parse(text, file: joinPath, now: now, tokenExpiryMatters: false)
        guard let sealed = join.controlPlane, let nodeName = join.nodeName, let nodeIP = join.nodeIP else {
            throw ConfigError(.missingField, file: joinPath, field: "controlPlane",
                              "this is a node's join file; mint one for a master with 'seed join-file NODE --ip IP --role control-plane'")
        }
        guard let key = SealedSecrets.Key(hex: keyText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ConfigError(.invalidValue, file: "the certificate key (--certificate-key-file or standard input)",
                              "not 64 hex digits (the key 'seed join-file' showed once)")
        }
        let bundle = SealedSecrets(sealed: sealed.sealed, cluster: join.clusterName, node: Self.sealedBinding(nodeName, nodeIP, endpoints: join.apiServerEndpoints, caPEM: join.caCertificatePEM), expires: sealed.expires)
        let secrets: [String: Data]
        do {
            secrets = try bundle.open(with: key, now: now)
        } catch let failure as SealedSecrets.Failure {
            let field = { if case .expired = failure { return "controlPlane.expires" } else { return "controlPlane.secrets" } }()
            throw ConfigError(.invalidValue, file: joinPath, field: field, line: sealed.line, failure.description)
        }
        guard let recordData = secrets[SharedSecretFile.cluster], Set(SharedSecretFile.all).isSubset(of: secrets.keys) else {
            throw ConfigError(.invalidValue, file: joinPath, field: "controlPlane.secrets", line: sealed.line, "the sealed secrets lack files a master needs; mint the join file again")
        }
        var config = try ClusterConfig.parse(String(decoding: recordData, as: UTF8.self), file: "\(joinPath) (sealed cluster record)")
        config.masterName = nodeName
        config.masterIP = nodeIP
        let caKeyPEM = String(decoding: secrets[SharedSecretFile.caKey]!, as: UTF8.self)
        let ca = try Certificate(pemEncoded: join.caCertificatePEM)
        let caKey = try PrivateKey(pem: caKeyPEM)
        guard caKey.matches(ca) else {
            throw ConfigError(.invalidValue, file: joinPath, field: "cluster.caCertificate", "the sealed CA key does not belong to this CA certificate")
        }
        let etcdCAPEM = String(decoding: secrets[SharedSecretFile.etcdCACertificate]!, as: UTF8.self)
        guard let etcdCA = try? Certificate(pemEncoded: etcdCAPEM), let etcdCAKey = try? PrivateKey(pem: String(decoding: secrets[SharedSecretFile.etcdCAKey]!, as: UTF8.self)),
              etcdCAKey.matches(etcdCA), etcdCA != ca else {
            throw ConfigError(.invalidValue, file: joinPath, field: "controlPlane.secrets", line: sealed.line, "the sealed etcd CA is not a certificate and its key; mint the join file again")
        }
        guard localAddresses().contains(where: { IPAddress.same($0, nodeIP) }) else {
            throw ConfigError(.invalidValue, file: joinPath, field: "node.ip",
                              "\(nodeIP) is not an address of this host; run 'seed join' on the master the file was minted for, or mint it again with its IP")
        }
        try checkHostFitsJoin(join, config: config, secrets: secrets, file: joinPath)
        // A client certificate for etcd, in memory: the peers are asked before anything is written.
        let (leaf, leafKey) = try Issuer(certificate: etcdCA, key: etcdCAKey).issue(
            CertificateSpec(name: "join-etcd-client", commonName: "kubeseed-join-\(nodeName)", organization: "system:masters", usage: .client),
            .ecdsaP256, now: now, years: 1)
        let identity = TLSIdentity(caPEM: etcdCAPEM, certificatePEM: leaf.pem, keyPEM: leafKey.pem)
        let peers = join.apiServerEndpoints.compactMap(APIEndpoint.parse).filter { !$0.hostIsName && !IPAddress.same($0.host, nodeIP) }
            .map { IPAddress.httpsURL($0.host, port: 2379) }
        guard !peers.isEmpty else {
            throw ConfigError(.invalidValue, file: joinPath, field: "cluster.apiServerEndpoints", "names no other master by IP to join through")
        }
        let recorded = try recordedConfig()
        let ownsMember = try recorded != nil || EtcdSetup.joinedUnit(root: root, name: nodeName, dataDir: config.host.etcdDataDir) != nil
        if !ownsMember, root.exists("\(config.host.etcdDataDir)/member") {
            throw ConfigError(.invalidValue, file: joinPath, field: "host.dataDir",
                              "\(config.host.etcdDataDir)/member holds an earlier etcd member's data (a reset keeps data); move it away before joining")
        }
        let state = ControlPlaneJoinState(join: join, secrets: secrets, etcdIdentity: identity, peerEndpoints: peers)
        let members = try await withEtcdPeers(state) { client in try await client.list().members }
        if let refusal = EtcdAdmission.refusal(name: nodeName, ip: nodeIP, members: members, at: .join(hostHoldsMember: ownsMember)) {
            let remedy: String
            switch refusal {
            case .peerURLs: remedy = ""
            case .nameTaken: remedy = "; mint the file for another name"
            case .ipTaken(_, let holder):
                remedy = " of this cluster, and this host holds no master: remove that member first ('seed-agent reset' on it, or etcdctl member remove \(EtcdMembership.hex(holder.id)))"
            case .learnerPending: remedy = "; finish that master's 'seed join' (or remove it) first"
            }
            throw ConfigError(.invalidValue, file: joinPath, field: refusal.field, "\(refusal)\(remedy)")
        }
        return (state, config)
    }

    /// This host must fit the join (`JoinHostFit`): fresh, or the same master of the same cluster.
    func checkHostFitsJoin(_ join: JoinFile, config: ClusterConfig, secrets: [String: Data], file: String) throws {
        var found = JoinHostFit.Found(recorded: try recordedConfig(), caPEM: try root.readText("\(certDirectory)/ca.pem"),
                                      encryptionConfig: try root.readText(ControlPlane.encryptionConfigPath))
        for name in SharedSecretFile.pkiFiles { found.pkiFiles[name] = try root.read("\(certDirectory)/\(name)") }
        if let problem = JoinHostFit.problem(found, config: config, caPEM: join.caCertificatePEM, shared: secrets, pkiFiles: SharedSecretFile.pkiFiles,
                                             encryptionKeyFile: SharedSecretFile.encryptionKey, file: file, certDirectory: certDirectory) {
            throw problem
        }
    }

    /// Runs `body` with clients to the join's peers, then closes them.
    func withEtcdPeers<T>(_ state: ControlPlaneJoinState, _ body: (EtcdClusterClient) async throws -> T) async throws -> T {
        try await withEtcdClients(state.peerEndpoints, identity: state.etcdIdentity, body)
    }

    /// Writes the CAs (certificates and keys), the service-account key pair, journaled, 0600 for keys.
    func writeSharedSecrets(_ state: ControlPlaneJoinState, in session: HostSession) throws -> InitPhase.Result {
        let wanted: [(String, Data, UInt16)] = [
            ("ca.pem", Data(state.join.caCertificatePEM.utf8), 0o644),
            (SharedSecretFile.caKey, state.secrets[SharedSecretFile.caKey]!, 0o600),
            (SharedSecretFile.etcdCACertificate, state.secrets[SharedSecretFile.etcdCACertificate]!, 0o644),
            (SharedSecretFile.etcdCAKey, state.secrets[SharedSecretFile.etcdCAKey]!, 0o600),
            (SharedSecretFile.serviceAccountKey, state.secrets[SharedSecretFile.serviceAccountKey]!, 0o600),
            (SharedSecretFile.serviceAccountPublicKey, state.secrets[SharedSecretFile.serviceAccountPublicKey]!, 0o644),
        ]
        var steps: [Step] = []
        for (name, data, mode) in wanted where try root.read("\(certDirectory)/\(name)") != data {
            steps.append(.writeFile(path: "\(certDirectory)/\(name)", content: String(decoding: data, as: UTF8.self), mode: mode))
        }
        try session.apply(steps)
        return steps.isEmpty ? InitPhase.Result(state: .ok, detail: "CA and service-account keys are the cluster's")
            : InitPhase.Result(state: .changed, detail: "wrote the cluster's CA and service-account keys (\(steps.count) files)", changes: steps.count)
    }

    /// Joins the etcd cluster through the join's peers (`addEtcdMember`).
    func joinEtcd(_ state: ControlPlaneJoinState, _ context: InitContext) async throws -> InitPhase.Result {
        try await addEtcdMember(name: context.config.masterName!, ip: context.masterIP, config: context.config,
                                peers: state.peerEndpoints, identity: state.etcdIdentity, session: context.session)
    }

    /// Joins the etcd cluster `peers` answer for: added as a learner through a peer (journaled first),
    /// started with `--initial-cluster-state=existing`, promoted once it has caught up. A member that is
    /// already a voter keeps its unit. `beforeStart` runs once the member is in etcd's list and before its
    /// unit is written (`seed etcd rejoin` moves the old data aside there: a second learner at the same time is
    /// refused by etcd before this host's data moves). `seed join` and `seed etcd rejoin`.
    func addEtcdMember(name: String, ip: String, config: ClusterConfig, peers: [String], identity: TLSIdentity,
                       session: HostSession, beforeStart: () throws -> Void = {}) async throws -> InitPhase.Result {
        let peerURL = IPAddress.httpsURL(ip, port: 2380)
        return try await withEtcdClients(peers, identity: identity) { cluster in
            var (members, via) = try await cluster.list()
            var changes = 0
            var done: [String] = []
            var mine = members.first { $0.hasPeer(ip: ip) }
            if mine == nil {
                try session.journal.record([.etcdMemberAdded(peerURL: peerURL, via: peers)])
                let added = try await EtcdClusterClient.addLearner(peerURL: peerURL, via: via)
                done.append("added as learner \(EtcdMembership.hex(added.id)) through \(via.baseURL)")
                changes += 1
                (members, via) = try await cluster.list()
                mine = members.first { $0.id == added.id } ?? added
            }
            try beforeStart()
            let setup = EtcdSetup(session: session, certDirectory: certDirectory, settings: config.host, timing: config.timing)
            let initial = EtcdMembership.initialCluster(joining: name, peerURL: peerURL, members: members)
                .map { EtcdUnit.Member(name: $0.name, ip: APIEndpoint.parse($0.peerURL)?.host ?? "") }
            let unit = try EtcdSetup.joinedUnit(root: root, name: name, dataDir: config.host.etcdDataDir) ?? EtcdUnit.render(this: EtcdUnit.Member(name: name, ip: ip), cluster: initial,
                                                                                 state: .existing, certDir: certDirectory, settings: config.host,
                                                                                 timing: config.timing)
            let performed = try setup.converge(unit: unit)
            changes += performed.count
            done += performed.map { "\($0.step)" }
            if let learner = mine, learner.isLearner {
                try await cluster.promote(learner.id, preferring: via, limit: etcdTimeout)
                done.append("promoted to voting member")
                changes += 1
            }
            let voters = try await cluster.list().members.filter { !$0.isLearner }.count
            return changes == 0 ? InitPhase.Result(state: .ok, detail: "a voting member of \(voters)")
                : InitPhase.Result(state: .changed, detail: done.joined(separator: ", ") + "; \(voters) voting members", changes: changes)
        }
    }
}
