import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

/// `seed node remove NAME` on a master.
extension MasterOperations {
    /// Takes node `name` out of the cluster: cordons it, evicts its pods through the Eviction API (a
    /// PodDisruptionBudget that refuses is asked again until `timeout`; then `force` deletes the pods,
    /// else it stops with the node cordoned), deletes the Node, deletes the bootstrap tokens minted for it
    /// with their Secrets, and drops it from the CSR approver's address book, so a later serving
    /// certificate request under its name is never approved. A master is refused while it is an etcd member
    /// (`seed-agent reset` on it leaves etcd, with the quorum check). Run again, it finishes what is left.
    public func removeNode(_ name: String, force: Bool = false, timeout: Duration = .seconds(300), pause: Duration = .seconds(2)) async -> Int32 {
        let command = "seed node remove"
        guard effectiveUID == 0 else { write("\(command): must run as root\n"); return 1 }
        guard JoinFile.isValidNodeName(name) else {
            write("\(command): nothing changed: \(Validate.shown(name)) is not a node name (lowercase DNS name)\n")
            return 2
        }
        guard let (config, ip, master) = recordedMaster(command) else { return 1 }
        guard name != master else {
            write("\(command): nothing changed: \(name) is this master; remove it from another master, after 'seed-agent reset' here\n")
            return 2
        }
        switch await countMembers() {
        case .counted(let members):
            let minted = ((try? MintedJoinStore(root: root).load().entries) ?? []).filter { $0.node == name }.compactMap(\.ip)
            if let member = members.first(where: { member in member.name == name || minted.contains { member.hasPeer(ip: $0) } }) {
                write("\(command): nothing changed: \(name) is still an etcd member (\(member.displayName)); run 'seed-agent reset' on it first "
                      + "(it leaves etcd, refusing when that would lose quorum), then this again\n")
                return 2
            }
        case .unanswered(let why):
            write("\(command): nothing changed: etcd does not answer (\(why)), so it cannot be checked that \(name) is not one of its members; start etcd and run this again\n")
            return 1
        }
        let version = config.version
        do {
            return try await HostSession.with(root, effects: effects, at: location) { session in
                let started = ContinuousClock.now
                let (registered, secrets) = try await withClient(Self.url(ip, 6443), presenting: "admin") { client in
                    let registered = try await drainAndDelete(name, client: client, version: version, force: force, timeout: timeout, pause: pause)
                    return (registered, try await deleteTokenSecrets(of: name, client: client))
                }
                // Its tokens minted here (their records; their Secrets went above) and its address-book entries.
                let store = TokenStore(root: root)
                let allTokens = try store.load()
                let tokens = allTokens.filter { $0.node == name }
                if !tokens.isEmpty { try store.save(allTokens.filter { $0.node != name }, journal: session.journal) }
                let book = MintedJoinStore(root: root)
                let entries = try book.loadForUpdate().entries
                let kept = entries.filter { $0.node != name }
                if kept.count != entries.count { try book.save(kept, journal: session.journal) }
                guard registered || !secrets.isEmpty || !tokens.isEmpty || kept.count != entries.count else {
                    write("\(command): no node \(name): no Node, no bootstrap token and no join file minted here; nothing changed\n")
                    return 1
                }
                let elapsed = ContinuousClock.now - started
                write("\(command): \(name) \(registered ? "removed from the cluster" : "was not registered; its tokens and records are gone") (\(elapsed.milliseconds) ms). "
                      + "Its join files no longer work, and this master's approver never approves a serving certificate under its name "
                      + "(another master that minted a join file for it keeps it in its own book: run this there too).\n")
                write("  left for the operator: on \(name), 'seed-agent reset' now (and 'apt purge kubeseed'): its kubelet's client certificate stays valid, "
                      + "and a kubelet still running registers the Node again. It can join again with a new join file.\n")
                return 0
            }
        } catch let stop as DrainStopped {
            write("\(command): \(stop)\n")
            return 1
        } catch {
            write("\(command): \(error)\n")
            return 1
        }
    }

    /// Deletes the bootstrap-token Secrets any master minted for `name`; returns their token IDs.
    private func deleteTokenSecrets(of name: String, client: any APIClient) async throws -> [String] {
        let list = try await client.send(NodeRemoval.tokenSecrets(), timeout: .seconds(30), retry: .transient)
        guard list.status == 200 else {
            throw APIError(.status, "\(NodeRemoval.tokenSecrets()) answered \(list.status)", cause: EtcdMembership.errorMessage(list.body))
        }
        let ids = try NodeRemoval.tokenSecretIDs(for: name, in: list.body)
        for id in ids {
            let outcome = try await ObjectApplier.apply(BootstrapObjects.deleteTokenSecret(id: id), with: client)
            write("  \(outcome == .deleted ? "deleted" : "already gone")  Secret kube-system/bootstrap-token-\(id)\n")
        }
        return ids
    }

    /// Why a drain stopped with the node cordoned.
    struct DrainStopped: Error, CustomStringConvertible {
        var description: String
    }

    /// Cordons and drains `name`, then deletes its Node. Returns whether the Node was registered.
    private func drainAndDelete(_ name: String, client: any APIClient, version: KubernetesVersion, force: Bool,
                                timeout: Duration, pause: Duration) async throws -> Bool {
        func send(_ request: APIRequest) async throws -> APIResponse { try await client.send(request, timeout: .seconds(30), retry: .transient) }
        func failed(_ request: APIRequest, _ response: APIResponse) -> APIError {
            APIError(.status, "\(request) answered \(response.status)", cause: String(decoding: response.body.prefix(300), as: UTF8.self))
        }
        let node = try await send(NodeRemoval.getNode(name))
        guard node.status != 404 else { return false }
        guard node.status == 200 else { throw failed(NodeRemoval.getNode(name), node) }
        let cordon = try await send(NodeRemoval.cordon(name))
        guard cordon.status == 200 else { throw failed(NodeRemoval.cordon(name), cordon) }
        write("  cordoned \(name)\n")
        let deadline = ContinuousClock.now + timeout
        var refused: [NodeRemoval.Pod: String] = [:]
        while true {
            let list = try await send(NodeRemoval.pods(on: name))
            guard list.status == 200 else { throw failed(NodeRemoval.pods(on: name), list) }
            let pods = try NodeRemoval.sort(list.body)
            if pods.toEvict.isEmpty {
                if !pods.terminating.isEmpty { write("  terminating (their controllers start them elsewhere): \(pods.terminating.map(\.description).joined(separator: ", "))\n") }
                if !pods.leftWithNode.isEmpty { write("  left with the node (DaemonSet and static pods): \(pods.leftWithNode.map(\.description).joined(separator: ", "))\n") }
                break
            }
            if ContinuousClock.now >= deadline {
                let why = pods.toEvict.map { "\($0) (\(refused[$0] ?? "not evicted yet"))" }.joined(separator: ", ")
                guard force else {
                    throw DrainStopped(description: "stopped after \(timeout): pods not evicted: \(why). \(name) stays cordoned ('kubectl uncordon \(name)' undoes it); "
                                       + "fix what refuses, or run again with --force to delete them")
                }
                // One forced round: a controller that makes its pods on this node again does not keep the Node alive.
                for pod in pods.toEvict {
                    let deleted = try await send(NodeRemoval.deletePod(pod))
                    guard [200, 202, 404].contains(deleted.status) else { throw failed(NodeRemoval.deletePod(pod), deleted) }
                    write("  deleted \(pod) (--force; it was not evicted: \(refused[pod] ?? "not evicted yet"))\n")
                }
                break
            }
            for pod in pods.toEvict {
                let request = NodeRemoval.evict(pod, version: version)
                let answer = try await send(request)
                switch answer.status {
                case 200, 201: write("  evicted \(pod)\n")
                case 404: break
                // A PodDisruptionBudget says not now.
                case 429: refused[pod] = "a PodDisruptionBudget refuses: \(EtcdMembership.errorMessage(answer.body))"
                // Two budgets for one pod (500), a conflict (409), a namespace going away (403), a busy server: asked again until the deadline.
                default: refused[pod] = "\(answer.status): \(EtcdMembership.errorMessage(answer.body))"
                }
            }
            try await Task.sleep(for: pause)
        }
        let deleted = try await send(NodeRemoval.deleteNode(name))
        guard [200, 202, 404].contains(deleted.status) else { throw failed(NodeRemoval.deleteNode(name), deleted) }
        write("  deleted Node \(name)\n")
        return true
    }
}
