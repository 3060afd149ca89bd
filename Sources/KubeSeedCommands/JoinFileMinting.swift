import Foundation
import Glibc
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

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
            let journal = try ChangeJournal(root: root, path: journalPath)
            let runner = StepRunner(root: root, effects: effects, journal: journal)
            let directory = (path as NSString).deletingLastPathComponent
            if !root.isDirectory(directory) {
                try runner.apply([.createDirectory(path: directory, mode: 0o700)], observed: NodeObservation())
            }
            record.uploaded = await uploadToken(record)
            let store = TokenStore(root: root)
            try store.save(try store.load() + [record], journal: journal)
            try runner.apply([.writeFile(path: path, content: text, mode: 0o600)], observed: NodeObservation())
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
            try store.save(tokens, journal: try ChangeJournal(root: root, path: journalPath))
            write("seed token delete: token \(id) (node \(token.node)) deleted\n")
            return 0
        } catch {
            write("seed token delete: nothing changed: \(error)\n")
            return 1
        }
    }
}
