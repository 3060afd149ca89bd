import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

extension MasterOperations {
    /// What `seed-agent reset` does first on a master: takes its etcd member out of the cluster through
    /// a healthy peer, so the members that stay keep a correct quorum.
    public struct EtcdLeave {
        public var output: String
        /// Reset must not go on (exit 2, nothing changed).
        public var refused: Bool
    }

    /// Removes this master's etcd member through a peer when the remaining voters that answer are a
    /// majority of the remaining voters; refuses otherwise (and when no member answers), unless `force`.
    /// Not a master, or the last member: nothing to do.
    public func leaveEtcd(force: Bool) async -> EtcdLeave {
        guard let recorded = try? recordedConfig(), let ip = recorded.masterIP, root.exists(EtcdUnit.path),
              let identity = try? identity("apiserver-etcd-client") else {
            return EtcdLeave(output: "", refused: false)
        }
        let forced = force ? " (--force: resetting anyway)" : ""
        func refuse(_ why: String) -> EtcdLeave {
            EtcdLeave(output: force ? "  etcd      \(why)\(forced)\n"
                                    : "seed-agent reset: nothing changed: \(why); fix that, or pass --force to reset this host anyway\n",
                      refused: !force)
        }
        // This master's own etcd first, then the other masters its join file lists.
        var endpoints = [Self.url(ip, 2379)]
        if let text = try? root.readText(JoinFile.defaultPath),
           let join = try? JoinFile.parse(text, file: JoinFile.defaultPath, tokenExpiryMatters: false) {
            for endpoint in join.apiServerEndpoints.compactMap(APIEndpoint.parse) where !endpoint.hostIsName {
                let url = Self.url(endpoint.host, 2379)
                if !endpoints.contains(url) { endpoints.append(url) }
            }
        }
        do {
            return try await withEtcdClients(endpoints, identity: identity) { cluster -> EtcdLeave in
                let members = try await cluster.list().members
                var peers: [UInt64: MutualTLSClient] = [:]
                for member in members where !member.hasPeer(ip: ip) {
                    guard let url = member.clientURLs.first else { continue }
                    peers[member.id] = try MutualTLSClient(baseURL: url, identity: identity, connectTimeout: .seconds(2))
                }
                let healthyIDs = await EtcdClusterClient.healthy(members) { peers[$0.id] }
                do {
                    let leave = try await remove(ip: ip, members: members, healthyIDs: healthyIDs, peers: peers)
                    for client in peers.values { await client.shutdown() }
                    return leave
                } catch {
                    for client in peers.values { await client.shutdown() }
                    throw error
                }
            }
        } catch {
            return refuse("could not remove this master's etcd member (\(error))")
        }

        func remove(ip: String, members: [EtcdMember], healthyIDs: Set<UInt64>, peers: [UInt64: MutualTLSClient]) async throws -> EtcdLeave {
            switch EtcdMembership.removal(of: ip, members: members, healthyIDs: healthyIDs) {
            case .notAMember:
                return EtcdLeave(output: "  etcd      \(ip) is not an etcd member (nothing to remove)\n", refused: false)
            case .lastMember(let member):
                return EtcdLeave(output: "  etcd      \(member.name) is the last etcd member: the cluster's data goes with this reset\n", refused: false)
            case .wouldLoseQuorum(let member, let remaining, let healthy):
                let why = "removing etcd member \(member.name) would leave \(remaining) voting members of which \(healthy) answer: no quorum"
                guard force else { return refuse(why) }
                return EtcdLeave(output: "  etcd      \(why); member left in the cluster\(forced)\n", refused: false)
            case .safe(let member, let remaining, let healthy):
                guard let via = members.first(where: { healthyIDs.contains($0.id) }).flatMap({ peers[$0.id] }) else {
                    return refuse("no healthy peer to remove etcd member \(member.name) through")
                }
                try await EtcdClusterClient.remove(member.id, via: via)
                return EtcdLeave(output: "  removed   etcd member \(member.name) (\(EtcdMembership.hex(member.id))) through \(via.baseURL); \(remaining) voting members stay, \(healthy) healthy\n",
                                 refused: false)
            }
        }
    }
}
