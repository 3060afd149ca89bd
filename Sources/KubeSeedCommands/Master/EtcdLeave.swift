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
        // This master's IP from its record, or (a join that stopped before recording) from its etcd unit.
        // Or (a join that stopped right after adding the member, before its unit) from the journal's record of the add.
        let unit = (try? root.readText(EtcdUnit.path)) ?? nil
        let added = ((try? ChangeJournal(root: root, path: location.journalPath))?.records ?? []).compactMap { record -> (peerURL: String, via: [String])? in
            if case .etcdMemberAdded(let peerURL, let via) = record { return (peerURL, via) } else { return nil }
        }.last
        guard unit != nil || added != nil,
              let ip = ((try? recordedConfig()) ?? nil)?.masterIP ?? unit.flatMap(EtcdUnit.advertisedPeerHost) ?? added.flatMap({ APIEndpoint.parse($0.peerURL)?.host }),
              let identity = try? etcdIdentity() else {
            return EtcdLeave(output: "", refused: false)
        }
        let forced = force ? " (--force: resetting anyway)" : ""
        func refuse(_ why: String) -> EtcdLeave {
            EtcdLeave(output: force ? "  etcd      \(why)\(forced)\n"
                                    : "seed-agent reset: nothing changed: \(why); fix that, or pass --force to reset this host anyway\n",
                      refused: !force)
        }
        // This master's own etcd first, then every other master it knows of: its unit's initial cluster,
        // its join file, and the API servers its agent last found.
        var hosts = [ip] + (unit.map(EtcdUnit.initialClusterHosts) ?? []) + (added?.via.compactMap { APIEndpoint.parse($0)?.host } ?? [])
        if let text = try? root.readText(JoinFile.defaultPath),
           let join = try? JoinFile.parse(text, file: JoinFile.defaultPath, tokenExpiryMatters: false) {
            let agent = AgentOperations(root: root, effects: effects, settings: NodePrepSettings(), effectiveUID: effectiveUID)
            hosts += agent.apiServers(join).compactMap(APIEndpoint.parse).filter { !$0.hostIsName }.map(\.host)
        }
        var endpoints: [String] = []
        for host in hosts where !endpoints.contains(Self.url(host, 2379)) { endpoints.append(Self.url(host, 2379)) }
        do {
            return try await withEtcdClients(endpoints, identity: identity) { cluster -> EtcdLeave in
                let members = try await cluster.list().members
                let others = members.filter { !$0.hasPeer(ip: ip) && !$0.clientURLs.isEmpty }
                return try await withEtcdClients(others.map { $0.clientURLs[0] }, identity: identity, connectTimeout: .seconds(2)) { peerClients in
                    let peers = Dictionary(zip(others.map(\.id), peerClients.clients), uniquingKeysWith: { first, _ in first })
                    let healthyIDs = await EtcdClusterClient.healthy(members) { peers[$0.id] }
                    return try await remove(ip: ip, members: members, healthyIDs: healthyIDs, peers: peers)
                }
            }
        } catch {
            return refuse("could not remove this master's etcd member (\(error))")
        }

        func remove(ip: String, members: [EtcdMember], healthyIDs: Set<UInt64>, peers: [UInt64: any APIClient]) async throws -> EtcdLeave {
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
