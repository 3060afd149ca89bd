import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

/// `seed token list` and `seed token delete`.
extension MasterOperations {
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
        do {
            return try await HostSession.with(root, effects: effects, at: location) { session in
                try await deleteToken(id: id, in: session)
            }
        } catch {
            write("seed token delete: nothing changed: \(error)\n")
            return 1
        }
    }

    /// `seed token delete ID` in `session`.
    private func deleteToken(id: String, in session: HostSession) async throws -> Int32 {
        let store = TokenStore(root: root)
        var tokens = try store.load()
        guard let token = tokens.first(where: { $0.id == id }) else {
            write("seed token delete: no token \(id) (see 'seed token list')\n")
            return 1
        }
        // Read before anything changes: a book that cannot be updated stops the deletion here.
        let book = MintedJoinStore(root: root)
        let entries = try book.loadForUpdate().entries
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
        let journal = session.journal
        try store.save(tokens, journal: journal)
        // The node's entry in the CSR approver's address book goes with its token.
        let kept = entries.filter { $0.tokenID != id }
        if kept.count != entries.count { try book.save(kept, journal: journal) }
        write("seed token delete: token \(id) (node \(token.node)) deleted"
              + (kept.count != entries.count ? "; \(token.node) retired from the CSR approver's address book" : "") + "\n")
        return 0
    }
}
