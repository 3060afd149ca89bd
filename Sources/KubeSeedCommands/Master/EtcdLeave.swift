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

    /// What became of this master's etcd member when it was asked to leave.
    enum OwnMemberRemoval {
        case notAMember
        /// The cluster's only member: nothing is removed.
        case lastMember(EtcdMember)
        /// Nothing is removed: the voters left behind that answer would not be a quorum.
        case wouldLoseQuorum(EtcdMember, remaining: Int, healthy: Int)
        /// Nothing is removed: no other member answers to remove it through.
        case noHealthyPeer(EtcdMember)
        /// `clusterID`: the cluster it was removed from, as the answer's header named it.
        case removed(EtcdMember, via: String, remaining: Int, healthy: Int, clusterID: UInt64?)
    }

    /// The removal of `member` was sent and its answer is not known: it may have happened.
    struct EtcdRemovalUncertain: Error, CustomStringConvertible {
        var member: EtcdMember
        var cause: any Error
        var description: String {
            "the removal of etcd member \(member.displayName) (\(EtcdMembership.hex(member.id))) was sent and its answer lost (\(cause)): it may have happened"
        }
    }

    /// The journal's last record of this master's member being added (a join that stopped before its unit).
    func lastEtcdMemberAdded() -> (peerURL: String, via: [String])? {
        ((try? ChangeJournal(root: root, path: location.journalPath))?.records ?? []).compactMap { record -> (peerURL: String, via: [String])? in
            if case .etcdMemberAdded(let peerURL, let via) = record { return (peerURL, via) } else { return nil }
        }.last
    }

    /// The etcd client URLs of every master this one knows of, `ip`'s own first: its etcd unit's initial
    /// cluster, the journal's record of its member being added, its join file's API servers and those its
    /// agent last found.
    func knownEtcdEndpoints(ip: String, unit: String?, added: (peerURL: String, via: [String])?) -> [String] {
        var hosts = [ip] + (unit.map(EtcdUnit.initialClusterHosts) ?? []) + (added?.via.compactMap { APIEndpoint.parse($0)?.host } ?? [])
        if let text = try? root.readText(JoinFile.defaultPath),
           let join = try? JoinFile.parse(text, file: JoinFile.defaultPath, tokenExpiryMatters: false) {
            let agent = AgentOperations(root: root, effects: effects, settings: NodePrepSettings(), effectiveUID: effectiveUID)
            hosts += agent.apiServers(join).compactMap(APIEndpoint.parse).filter { !$0.hostIsName }.map(\.host)
        }
        var endpoints: [String] = []
        for host in hosts where !endpoints.contains(Self.url(host, 2379)) { endpoints.append(Self.url(host, 2379)) }
        return endpoints
    }

    /// Removes the member on `ip` through a healthy peer when the voters left behind that answer are a
    /// majority of them (`EtcdMembership.removal`).
    func removeOwnEtcdMember(ip: String, endpoints: [String], identity: TLSIdentity) async throws -> OwnMemberRemoval {
        try await withEtcdClients(endpoints, identity: identity) { cluster -> OwnMemberRemoval in
            let (members, clusterID, _) = try await cluster.listCluster()
            let others = members.filter { !$0.hasPeer(ip: ip) && !$0.clientURLs.isEmpty }
            return try await withEtcdClients(others.map { $0.clientURLs[0] }, identity: identity, connectTimeout: .seconds(2)) { peerClients in
                let peers = Dictionary(zip(others.map(\.id), peerClients.clients), uniquingKeysWith: { first, _ in first })
                let healthyIDs = await EtcdClusterClient.healthy(members) { peers[$0.id] }
                switch EtcdMembership.removal(of: ip, members: members, healthyIDs: healthyIDs) {
                case .notAMember:
                    return .notAMember
                case .lastMember(let member):
                    return .lastMember(member)
                case .wouldLoseQuorum(let member, let remaining, let healthy):
                    return .wouldLoseQuorum(member, remaining: remaining, healthy: healthy)
                case .safe(let member, let remaining, let healthy):
                    guard let via = members.first(where: { healthyIDs.contains($0.id) }).flatMap({ peers[$0.id] }) else {
                        return .noHealthyPeer(member)
                    }
                    do { try await EtcdClusterClient.remove(member.id, via: via) } catch { throw EtcdRemovalUncertain(member: member, cause: error) }
                    return .removed(member, via: via.baseURL, remaining: remaining, healthy: healthy, clusterID: clusterID)
                }
            }
        }
    }

    /// Removes this master's etcd member through a peer when the remaining voters that answer are a
    /// majority of the remaining voters; refuses otherwise (and when no member answers), unless `force`.
    /// Not a master, or the last member: nothing to do.
    public func leaveEtcd(force: Bool) async -> EtcdLeave {
        // This master's IP from its record, or (a join that stopped before recording) from its etcd unit.
        // Or (a join that stopped right after adding the member, before its unit) from the journal's record of the add.
        let unit = (try? root.readText(EtcdUnit.path)) ?? nil
        let added = lastEtcdMemberAdded()
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
        let outcome: OwnMemberRemoval
        do {
            outcome = try await removeOwnEtcdMember(ip: ip, endpoints: knownEtcdEndpoints(ip: ip, unit: unit, added: added), identity: identity)
        } catch let uncertain as EtcdRemovalUncertain {
            return refuse("\(uncertain); run 'seed-agent reset' again (it finds the member gone, or removes it)")
        } catch {
            return refuse("could not remove this master's etcd member (\(error))")
        }
        switch outcome {
        case .notAMember:
            return EtcdLeave(output: "  etcd      \(ip) is not an etcd member (nothing to remove)\n", refused: false)
        case .lastMember(let member):
            return EtcdLeave(output: "  etcd      \(member.name) is the last etcd member: the cluster's data goes with this reset\n", refused: false)
        case .wouldLoseQuorum(let member, let remaining, let healthy):
            let why = "removing etcd member \(member.name) would leave \(remaining) voting members of which \(healthy) answer: no quorum"
            guard force else { return refuse(why) }
            return EtcdLeave(output: "  etcd      \(why); member left in the cluster\(forced)\n", refused: false)
        case .noHealthyPeer(let member):
            return refuse("no healthy peer to remove etcd member \(member.name) through")
        case .removed(let member, let via, let remaining, let healthy, _):
            return EtcdLeave(output: "  removed   etcd member \(member.name) (\(EtcdMembership.hex(member.id))) through \(via); \(remaining) voting members stay, \(healthy) healthy\n",
                             refused: false)
        }
    }
}
