import Foundation

/// `seed node remove`: the API calls that take a node out of the cluster, and which of its pods are
/// evicted. Pure.
public enum NodeRemoval {
    /// A pod by namespace and name.
    public struct Pod: Sendable, Equatable, Hashable, CustomStringConvertible {
        public var namespace: String
        public var name: String
        public init(_ namespace: String, _ name: String) {
            self.namespace = namespace
            self.name = name
        }
        public var description: String { "\(namespace)/\(name)" }
    }

    /// A node's pods, sorted by what removal does with them.
    public struct Pods: Sendable, Equatable {
        /// To evict (through the Eviction API, so PodDisruptionBudgets hold).
        public var toEvict: [Pod] = []
        /// Evicted or deleted already: their controllers make them again elsewhere, and the pod garbage
        /// collector removes them once the Node is gone (a dead node's kubelet never confirms).
        public var terminating: [Pod] = []
        /// DaemonSet and static (mirror) pods: they belong to the node and go with it.
        public var leftWithNode: [Pod] = []
    }

    static func escaped(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-."))) ?? name
    }

    public static func getNode(_ name: String) -> APIRequest {
        APIRequest(.get, "/api/v1/nodes/\(escaped(name))", object: "Node \(name)")
    }

    public static func cordon(_ name: String) -> APIRequest {
        APIRequest(.patch, "/api/v1/nodes/\(escaped(name))", body: Data(#"{"spec":{"unschedulable":true}}"#.utf8),
                   object: "Node \(name) (cordon)", contentType: "application/merge-patch+json")
    }

    public static func pods(on name: String) -> APIRequest {
        APIRequest(.get, "/api/v1/pods?fieldSelector=spec.nodeName%3D\(escaped(name))", object: "pods on \(name)")
    }

    /// The Eviction for `pod`: policy/v1beta1 before 1.22, policy/v1 from it.
    public static func evict(_ pod: Pod, version: KubernetesVersion) -> APIRequest {
        let object: [String: Any] = [
            "apiVersion": version.minor >= 22 ? "policy/v1" : "policy/v1beta1", "kind": "Eviction",
            "metadata": ["name": pod.name, "namespace": pod.namespace],
        ]
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return APIRequest(.post, "/api/v1/namespaces/\(escaped(pod.namespace))/pods/\(escaped(pod.name))/eviction", body: body, object: "Eviction of \(pod)")
    }

    public static func deletePod(_ pod: Pod) -> APIRequest {
        APIRequest(.delete, "/api/v1/namespaces/\(escaped(pod.namespace))/pods/\(escaped(pod.name))", object: "Pod \(pod)")
    }

    public static func deleteNode(_ name: String) -> APIRequest {
        APIRequest(.delete, "/api/v1/nodes/\(escaped(name))", object: "Node \(name)")
    }

    static let secretPrefix = "bootstrap-token-"

    /// The cluster's bootstrap-token Secrets (any master's join files).
    public static func tokenSecrets() -> APIRequest {
        APIRequest(.get, "/api/v1/namespaces/kube-system/secrets?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken", object: "bootstrap-token Secrets")
    }

    /// The token IDs of the Secrets (`bootstrap-token-ID`) in `secretList` that some master's `seed join-file`
    /// made for `node` (their description says so); the token's secret is never read.
    public static func tokenSecretIDs(for node: String, in secretList: Data) throws -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: secretList) as? [String: Any], let items = object["items"] as? [[String: Any]] else {
            throw AnswerError(description: "the API server's Secret list is not a SecretList")
        }
        let wanted = "kubeseed join file for \(node)"
        return items.compactMap { item in
            guard let name = (item["metadata"] as? [String: Any])?["name"] as? String, name.hasPrefix(secretPrefix),
                  let encoded = (item["data"] as? [String: Any])?["description"] as? String,
                  let description = Data(base64Encoded: encoded), String(decoding: description, as: UTF8.self) == wanted else { return nil }
            return String(name.dropFirst(secretPrefix.count))
        }.sorted()
    }

    public struct AnswerError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Sorts a PodList's pods (`pods(on:)`'s answer).
    public static func sort(_ podList: Data) throws -> Pods {
        guard let object = try? JSONSerialization.jsonObject(with: podList) as? [String: Any], let items = object["items"] as? [[String: Any]] else {
            throw AnswerError(description: "the API server's pod list is not a PodList")
        }
        var pods = Pods()
        for item in items {
            guard let metadata = item["metadata"] as? [String: Any], let name = metadata["name"] as? String,
                  let namespace = metadata["namespace"] as? String else {
                throw AnswerError(description: "a pod in the list has no name or namespace")
            }
            let pod = Pod(namespace, name)
            let owners = (metadata["ownerReferences"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            let annotations = metadata["annotations"] as? [String: Any] ?? [:]
            if owners.contains("DaemonSet") || annotations["kubernetes.io/config.mirror"] != nil {
                pods.leftWithNode.append(pod)
            } else if metadata["deletionTimestamp"] != nil {
                pods.terminating.append(pod)
            } else {
                pods.toEvict.append(pod)
            }
        }
        return pods
    }
}
