import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

extension MasterOperations {
    public static let joinFileDirectory = "/var/lib/kubeseed/join-files"

    /// `seed join-file`: a new token and a join file for one node (0600, the CA embedded), checked with the
    /// agent's own parser before it is written. The token's Secret is created now when the API server
    /// answers, else by the next `seed init`.
    public func mintJoinFile(_ request: JoinRequest, output: String?, now: Date = Date()) async -> Int32 {
        guard effectiveUID == 0 else { write("seed join-file: must run as root\n"); return 1 }
        let path = output ?? "\(Self.joinFileDirectory)/\(request.nodeName).yaml"
        var request = request
        let token: BootstrapToken
        let text: String
        let cluster: ClusterConfig
        var certificateKey: SealedSecrets.Key?
        do {
            let members: [EtcdMember]?
            do { members = try await localEtcdMembers(attempts: 3, connectTimeout: .seconds(3)) } catch {
                members = nil
                write("seed join-file: etcd did not answer (\(error)): the file lists this master's API server only"
                      + (request.roles.contains(ControlPlaneSecrets.role) ? ", and its name and IP are not checked against the members here ('seed join' checks them)" : "") + "\n")
            }
            request.apiServerEndpoints = members.map(EtcdMembership.apiServerEndpoints).flatMap { $0.isEmpty ? nil : $0 }
            if request.roles.contains(ControlPlaneSecrets.role) {
                guard let ip = request.nodeIP else { throw ConfigError(.missingField, file: "--ip", "a master's join file needs its IP (etcd and the API server listen on it)") }
                if let refusal = members.flatMap({ EtcdAdmission.refusal(name: request.nodeName, ip: ip, members: $0, at: .mint) }) {
                    if case .ipTaken = refusal { throw ConfigError(.invalidValue, file: "--ip", "\(refusal); remove it first") }
                    throw ConfigError(.invalidValue, file: "NODE", "\(refusal)")
                }
                guard let cluster = try recordedConfig(), let caPEM = try root.readText("\(certDirectory)/ca.pem") else {
                    throw HostError(.file, "\(ClusterConfig.recordPath) or \(certDirectory)/ca.pem is missing", cause: "run 'seed init' on this master first")
                }
                let endpoints = request.apiServerEndpoints ?? [cluster.apiServerEndpoint ?? ""]
                let (sealed, key) = try sealSharedSecrets(node: request.nodeName, ip: ip, endpoints: endpoints, caPEM: caPEM, expires: request.expires)
                request.controlPlane = sealed
                certificateKey = key
            }
            (text, token, cluster) = try joinFileText(request, path: path, now: now)
        } catch {
            write("seed join-file: nothing written: \(error)\n")
            return error is ConfigError ? 2 : 1
        }
        let record: TokenRecord
        let retired: [MintedJoin]
        do {
            (record, retired) = try await HostSession.with(root, effects: effects, at: location) { session in
                // The address book first: a store that cannot be updated stops the mint before anything is written.
                let retired = try recordMintedJoin(request, token: token, now: now, journal: session.journal)
                let record = try await writeJoinFile(text, token: token, request: request, path: path, in: session)
                for removed in try pruneExpiredMasterJoinFiles(now: now, in: session) { write("  removed \(removed): its sealed secrets expired\n") }
                return (record, retired)
            }
        } catch let error as HostSession.OpenError {
            write("seed join-file: nothing written: \(error)\n")
            return 1
        } catch {
            write("seed join-file: \(error)\n")
            return 1
        }
        for entry in retired {
            write("  \(entry.ip ?? "") was node \(entry.node)'s: \(entry.node) is retired from the CSR approver's address book\n")
        }
        let expires = Timestamp.string(request.expires)
        let servers = (request.apiServerEndpoints ?? [cluster.apiServerEndpoint ?? ""]).joined(separator: ", ")
        if let certificateKey {
            write("seed join-file: wrote \(path) (0600) for master \(request.nodeName) \(request.nodeIP ?? ""): API servers \(servers)\n")
            // Shown once, never stored: the file alone does not open.
            write("  its secrets open until \(Timestamp.string(request.controlPlane!.expires)) with this certificate key (shown once, stored nowhere):\n")
            write("  \(certificateKey.hex)\n")
            write("  on \(request.nodeName): seed join FILE (it asks for the key on standard input, or --certificate-key-file KEYFILE)\n")
            return 0
        }
        write("seed join-file: wrote \(path) (0600) for node \(request.nodeName): API servers \(servers), token \(token) expires \(expires)\n")
        write(record.uploaded ? "  the token's Secret is in kube-system\n"
                              : "  the API server is not answering: 'seed init' creates the token's Secret once it is up\n")
        write("  copy it to the node as /etc/kubeseed/join.yaml (root, 0600); the seed-agent.path unit starts the agent\n")
        return 0
    }

    /// A join file for `request` with a new token, checked with the agent's own parser.
    func joinFileText(_ request: JoinRequest, path: String, now: Date) throws -> (text: String, token: BootstrapToken, cluster: ClusterConfig) {
        guard let cluster = try recordedConfig() else {
            throw HostError(.file, "\(ClusterConfig.recordPath) is missing", cause: "run 'seed init' on this master first")
        }
        guard let caPEM = try root.readText("\(certDirectory)/ca.pem") else {
            throw HostError(.file, "\(certDirectory)/ca.pem is missing", cause: "run 'seed init' on this master first")
        }
        let token = BootstrapToken.generate()
        let text = JoinFile.render(cluster: cluster, caPEM: caPEM, token: token, request: request)
        // The agent must accept what we hand out; a failure here is a KubeSeed bug, reported as such.
        _ = try JoinFile.parse(text, file: path, now: now)
        return (text, token, cluster)
    }

    /// Records the token (its Secret created now if the API server answers) and writes the join file
    /// (0600, journaled). The caller holds the host lock and has checked `text` with the agent's parser.
    func writeJoinFile(_ text: String, token: BootstrapToken, request: JoinRequest, path: String, in session: HostSession) async throws -> TokenRecord {
        var record = TokenRecord(token: token, expires: request.expires, node: request.nodeName)
        let runner = session.runner()
        let directory = (path as NSString).deletingLastPathComponent
        if !root.isDirectory(directory) {
            try runner.apply([.createDirectory(path: directory, mode: 0o700)], observed: NodeObservation())
        }
        // A master's file carries a token only because the schema wants one: it is never made valid
        // (no Secret, no record), so the file without its key bootstraps nothing. The new master mints its own.
        if request.controlPlane == nil {
            record.uploaded = await uploadToken(record)
            let store = TokenStore(root: root)
            try store.save(try store.load() + [record], journal: session.journal)
        }
        try runner.apply([.writeFile(path: path, content: text, mode: 0o600)], observed: NodeObservation())
        return record
    }

    /// Adds the join to the CSR approver's address book (`MintedJoinStore`); returns the entries it
    /// retired (another node's, on the same IP).
    func recordMintedJoin(_ request: JoinRequest, token: BootstrapToken, now: Date, journal: ChangeJournal) throws -> [MintedJoin] {
        let store = MintedJoinStore(root: root)
        let entry = MintedJoin(node: request.nodeName, ip: request.nodeIP, roles: request.roles, minted: now,
                               expires: request.controlPlane?.expires ?? request.expires, tokenID: request.controlPlane == nil ? token.id : nil)
        let (current, notTakenIn) = try store.loadForUpdate()
        for problem in notTakenIn { write("  not taken into the CSR approver's address book: \(problem)\n") }
        let (entries, retired) = MintedJoin.adding(entry, to: current)
        try store.save(entries, journal: journal)
        return retired
    }

    /// Removes the control-plane join files in the join-file directory whose sealed secrets have expired:
    /// the minting master keeps a sealed file only while it can be used. Returns their paths.
    func pruneExpiredMasterJoinFiles(now: Date, in session: HostSession) throws -> [String] {
        var steps: [Step] = []
        for name in root.list(Self.joinFileDirectory).sorted() where name.hasSuffix(".yaml") {
            let path = "\(Self.joinFileDirectory)/\(name)"
            guard let text = try root.readText(path), let join = try? JoinFile.parse(text, file: path, now: now, tokenExpiryMatters: false),
                  let sealed = join.controlPlane, sealed.expires <= now else { continue }
            steps.append(.removeFile(path: path))
        }
        guard !steps.isEmpty else { return [] }
        try session.apply(steps)
        return steps.compactMap { if case .removeFile(let path) = $0 { return path } else { return nil } }
    }

    /// Creates the token's Secret when kube-apiserver runs here and answers within a few seconds.
    func uploadToken(_ record: TokenRecord) async -> Bool {
        let recorded = (try? recordedConfig()) ?? nil
        // A kube-apiserver unit that systemd has stopped (its binary missing, or stopped by hand) cannot answer:
        // the transient retries would only wait, and the bootstrap phase uploads the pending token once it runs.
        guard let masterIP = recorded?.masterIP, root.exists("\(certDirectory)/admin.pem"), !apiServerUnitStopped() else { return false }
        let request = BootstrapObjects.createTokenSecret(record.token, expires: record.expires, node: record.node)
        // The API server runs on this host: a second is plenty to connect (AsyncHTTPClient retries a
        // refused connection until the connect timeout).
        let outcome = try? await withClient(Self.url(masterIP, 6443), presenting: "admin", connectTimeout: .seconds(1)) { client in
            try await ObjectApplier.apply(request, with: client)
        }
        return outcome == .created || outcome == .exists
    }
}
