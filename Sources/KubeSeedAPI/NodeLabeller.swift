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
    public static func ensure(_ name: String, roles: [String], nodeJSON: Data? = nil, with client: any APIClient,
                              retry: RetryPolicy = .transient) async throws -> Outcome {
        var current = nodeJSON.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        for attempt in 0..<2 {
            if current == nil || attempt > 0 {
                let response = try await client.send(APIRequest(.get, "/api/v1/nodes/\(name)", object: "Node \(name)"), timeout: .seconds(10), retry: retry)
                if response.status == 404 { return .absent }
                guard response.status == 200, let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
                    throw APIError(.status, "reading Node \(name) answered \(response.status)", cause: response.message, httpStatus: response.status)
                }
                current = object
            }
            guard ((current!["metadata"] as? [String: Any])?["resourceVersion"] as? String)?.isEmpty == false else {
                throw APIError(.status, "Node \(name) came without a resourceVersion: not patched unguarded")
            }
            guard let patch = NodeRoles.patch(node: current!, roles: roles) else { return .unchanged }
            let response = try await client.send(APIRequest(.patch, "/api/v1/nodes/\(name)", body: patch, object: "Node \(name) roles",
                                                             contentType: "application/merge-patch+json"), timeout: .seconds(10), retry: retry)
            if response.status == 200 { return .patched }
            guard response.status == 409 else {
                throw APIError(.status, "labelling Node \(name) answered \(response.status)", cause: response.message, httpStatus: response.status)
            }
        }
        throw APIError(.status, "Node \(name) kept changing while it was labelled (409 twice)")
    }

    /// What `ensureAll` did.
    public struct Report: Sendable, Equatable {
        public var patched: [String] = []
        public var unchanged: [String] = []
        /// Not registered yet.
        public var absent: [String] = []
        /// Not asked or not answered: the API server did not answer for the first of them, and the
        /// rest were left for later rather than waited on one by one.
        public var unanswered: [String] = []
        /// Why the first of `unanswered` got no answer.
        public var cause: String?
    }

    /// `ensure` for every node in `roles` (by name). The first node the API server does not answer
    /// for (`APIError.isNoAnswer`) ends the round: it and the rest are reported as unanswered, to be
    /// labelled later (the CSR approver labels a Node when its kubelet asks for a serving certificate).
    /// A refusal (403, 422, …) still throws: that needs an operator.
    public static func ensureAll(_ roles: [String: [String]], with client: any APIClient, retry: RetryPolicy = .transient) async throws -> Report {
        var report = Report()
        let names = roles.keys.sorted().filter { roles[$0]?.isEmpty == false }
        nodes: for (index, name) in names.enumerated() {
            do {
                switch try await ensure(name, roles: roles[name]!, with: client, retry: retry) {
                case .patched: report.patched.append(name)
                case .unchanged: report.unchanged.append(name)
                case .absent: report.absent.append(name)
                }
            } catch let error as APIError where error.isNoAnswer {
                report.unanswered = Array(names[index...])
                report.cause = error.description
                break nodes
            }
        }
        return report
    }
}
