import Foundation
import KubeSeedCore

/// etcd's membership over mutual TLS, through the v3 JSON gateway of whichever member answers first.
/// One client per member endpoint; the caller owns their lifetime.
public struct EtcdClusterClient: Sendable {
    public let clients: [any APIClient]

    public init(clients: [any APIClient]) { self.clients = clients }

    /// The members, from the first endpoint that answers; with the client that answered.
    public func list() async throws -> (members: [EtcdMember], via: any APIClient) {
        let answer = try await listCluster()
        return (answer.members, answer.via)
    }

    /// The members and the cluster's ID (from the answer's header; `nil` when it has none), from the first
    /// endpoint that answers; with the client that answered.
    public func listCluster() async throws -> (members: [EtcdMember], clusterID: UInt64?, via: any APIClient) {
        var failures: [String] = []
        for client in clients {
            do {
                let response = try await client.send(EtcdMembership.listRequest(), timeout: .seconds(5))
                guard response.status == 200 else {
                    failures.append("\(client.baseURL): \(response.status) \(EtcdMembership.errorMessage(response.body))")
                    continue
                }
                return (try EtcdMembership.members(in: response.body), EtcdMembership.clusterID(in: response.body), client)
            } catch let error as EtcdMembership.AnswerError {
                failures.append("\(client.baseURL): \(error)")
            } catch {
                failures.append("\(error)")
            }
        }
        throw APIError(.unreachable, "no etcd member answered at \(clients.map(\.baseURL).joined(separator: ", "))",
                       cause: failures.joined(separator: "; "))
    }

    /// The IDs of the members whose own endpoint answers `/health` healthy.
    public static func healthy(_ members: [EtcdMember], clientFor: (EtcdMember) -> (any APIClient)?) async -> Set<UInt64> {
        var healthy = Set<UInt64>()
        for member in members {
            guard let client = clientFor(member) else { continue }
            if case .success = await Readiness.etcdHealthy(client) { healthy.insert(member.id) }
        }
        return healthy
    }

    /// Adds `peerURL` as a learner through `client`; returns the member etcd made.
    public static func addLearner(peerURL: String, via client: any APIClient) async throws -> EtcdMember {
        let request = EtcdMembership.addLearnerRequest(peerURL: peerURL)
        let response = try await client.send(request, timeout: .seconds(10))
        guard response.status == 200 else {
            throw APIError(.status, "\(request.object) at \(client.baseURL) answered \(response.status)", cause: EtcdMembership.errorMessage(response.body))
        }
        return try EtcdMembership.addedMember(in: response.body)
    }

    /// Promotes the learner `id` once it has caught up: etcd refuses a learner that is behind, so this
    /// asks again every `interval` until `limit`, starting with `preferred`. A member that does not answer
    /// (a busy peer, a lost response) is asked again through the next one; a promote etcd says was
    /// already done (the member is a voter) counts as done.
    public func promote(_ id: UInt64, preferring preferred: (any APIClient)? = nil, limit: Duration,
                        interval: Duration = .milliseconds(500)) async throws {
        let request = EtcdMembership.promoteRequest(id: id)
        let order = preferred.map { first in [first] + clients.filter { $0 !== first } } ?? clients
        guard !order.isEmpty else { throw APIError(.unreachable, "no etcd member to promote \(EtcdMembership.hex(id)) through") }
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var next = 0
        while true {
            let client = order[next % order.count]
            do {
                let response = try await client.send(request, timeout: .seconds(10))
                if response.status == 200 { return }
                let message = EtcdMembership.errorMessage(response.body)
                if EtcdMembership.alreadyVoter(message) { return }
                guard EtcdMembership.learnerNotReady(message), clock.now < deadline else {
                    throw APIError(.status, "\(request.object) at \(client.baseURL) answered \(response.status)", cause: message)
                }
            } catch let error as APIError where error.code == .unreachable {
                guard clock.now < deadline else { throw error }
                next += 1
            }
            try await Task.sleep(for: interval)
        }
    }

    /// Removes member `id` through `client` (a member that stays).
    public static func remove(_ id: UInt64, via client: any APIClient) async throws {
        let request = EtcdMembership.removeRequest(id: id)
        let response = try await client.send(request, timeout: .seconds(10))
        guard response.status == 200 else {
            throw APIError(.status, "\(request.object) at \(client.baseURL) answered \(response.status)", cause: EtcdMembership.errorMessage(response.body))
        }
    }
}
