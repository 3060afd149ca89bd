import Foundation
import KubeSeedCore

/// Gives a Node its role labels and the control-plane taint (`NodeRoles`) through the API.
public enum NodeLabeller {
    public enum Outcome: String, Sendable, Equatable {
        /// The Node had them already.
        case unchanged
        case patched
        /// No Node of that name (yet): the kubelet has not registered.
        case absent
    }

    /// Reads the Node (or takes `nodeJSON` as just read) and patches what it lacks; a Node changed
    /// meanwhile (409) is read again and patched once more.
    public static func ensure(_ name: String, roles: [String], nodeJSON: Data? = nil, with client: MutualTLSClient) async throws -> Outcome {
        var current = nodeJSON.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        for attempt in 0..<2 {
            if current == nil || attempt > 0 {
                let response = try await client.send(APIRequest(.get, "/api/v1/nodes/\(name)", object: "Node \(name)"), timeout: .seconds(10))
                if response.status == 404 { return .absent }
                guard response.status == 200, let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
                    throw APIError(.status, "reading Node \(name) answered \(response.status)", cause: response.message)
                }
                current = object
            }
            guard ((current!["metadata"] as? [String: Any])?["resourceVersion"] as? String)?.isEmpty == false else {
                throw APIError(.status, "Node \(name) came without a resourceVersion: not patched unguarded")
            }
            guard let patch = NodeRoles.patch(node: current!, roles: roles) else { return .unchanged }
            let response = try await client.send(APIRequest(.patch, "/api/v1/nodes/\(name)", body: patch, object: "Node \(name) roles",
                                                             contentType: "application/merge-patch+json"), timeout: .seconds(10))
            if response.status == 200 { return .patched }
            guard response.status == 409 else {
                throw APIError(.status, "labelling Node \(name) answered \(response.status)", cause: response.message)
            }
        }
        throw APIError(.status, "Node \(name) kept changing while it was labelled (409 twice)")
    }
}
