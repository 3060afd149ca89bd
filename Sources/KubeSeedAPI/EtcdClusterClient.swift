import Foundation
import KubeSeedCore

/// etcd's membership over mutual TLS, through the v3 JSON gateway of whichever member answers first.
/// One client per member endpoint; the caller owns their lifetime.
public struct EtcdClusterClient: Sendable {
    public let clients: [MutualTLSClient]

    public init(clients: [MutualTLSClient]) { self.clients = clients }

    /// The members, from the first endpoint that answers; with the client that answered.
    public func list() async throws -> (members: [EtcdMember], via: MutualTLSClient) {
        var failures: [String] = []
        for client in clients {
            do {
                let response = try await client.send(EtcdMembership.listRequest(), timeout: .seconds(5))
                guard response.status == 200 else {
                    failures.append("\(client.baseURL): \(response.status) \(EtcdMembership.errorMessage(response.body))")
                    continue
                }
                return (try EtcdMembership.members(in: response.body), client)
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
    public static func healthy(_ members: [EtcdMember], clientFor: (EtcdMember) -> MutualTLSClient?) async -> Set<UInt64> {
        var healthy = Set<UInt64>()
        for member in members {
            guard let client = clientFor(member) else { continue }
            if case .success = await Readiness.etcdHealthy(client) { healthy.insert(member.id) }
        }
        return healthy
    }

    /// Adds `peerURL` as a learner through `client`; returns the member etcd made.
    public static func addLearner(peerURL: String, via client: MutualTLSClient) async throws -> EtcdMember {
        let request = EtcdMembership.addLearnerRequest(peerURL: peerURL)
        let response = try await client.send(request, timeout: .seconds(10))
        guard response.status == 200 else {
            throw APIError(.status, "\(request.object) at \(client.baseURL) answered \(response.status)", cause: EtcdMembership.errorMessage(response.body))
        }
        return try EtcdMembership.addedMember(in: response.body)
    }

    /// Promotes the learner `id` once it has caught up: etcd refuses a learner that is behind, so this
    /// asks again every `interval` until `limit`.
    public static func promote(_ id: UInt64, via client: MutualTLSClient, limit: Duration, interval: Duration = .milliseconds(500)) async throws {
        let request = EtcdMembership.promoteRequest(id: id)
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while true {
            let response = try await client.send(request, timeout: .seconds(10))
            if response.status == 200 { return }
            let message = EtcdMembership.errorMessage(response.body)
            guard EtcdMembership.learnerNotReady(message), clock.now < deadline else {
                throw APIError(.status, "\(request.object) at \(client.baseURL) answered \(response.status)", cause: message)
            }
            try await Task.sleep(for: interval)
        }
    }

    /// Removes member `id` through `client` (a member that stays).
    public static func remove(_ id: UInt64, via client: MutualTLSClient) async throws {
        let request = EtcdMembership.removeRequest(id: id)
        let response = try await client.send(request, timeout: .seconds(10))
        guard response.status == 200 else {
            throw APIError(.status, "\(request.object) at \(client.baseURL) answered \(response.status)", cause: EtcdMembership.errorMessage(response.body))
        }
    }
}
