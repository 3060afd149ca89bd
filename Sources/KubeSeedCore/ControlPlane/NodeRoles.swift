import Foundation

/// Role labels (`node-role.kubernetes.io/ROLE`) and, on control-plane nodes, the
/// `node-role.kubernetes.io/control-plane:NoSchedule` taint, set from the control plane: NodeRestriction
/// stops a kubelet from labelling itself with them. Pure.
public enum NodeRoles {
    public static let labelPrefix = "node-role.kubernetes.io/"
    public static let controlPlaneTaintKey = "node-role.kubernetes.io/control-plane"

    /// A JSON merge patch (`application/merge-patch+json`) giving `node` the labels and taint `roles`
    /// call for, guarded by its resourceVersion; `nil` when it has them already. Existing labels and
    /// taints are kept (a merge patch replaces the taint list, so the list sent is the whole of it).
    public static func patch(node: [String: Any], roles: [String]) -> Data? {
        let metadata = node["metadata"] as? [String: Any] ?? [:]
        let labels = metadata["labels"] as? [String: Any] ?? [:]
        let missing = roles.sorted().map { labelPrefix + $0 }.filter { labels[$0] == nil }
        let taints = (node["spec"] as? [String: Any])?["taints"] as? [[String: Any]] ?? []
        let wantsTaint = roles.contains("control-plane")
            && !taints.contains { $0["key"] as? String == controlPlaneTaintKey && $0["effect"] as? String == "NoSchedule" }
        guard !missing.isEmpty || wantsTaint else { return nil }
        var patchMetadata: [String: Any] = [:]
        if let version = metadata["resourceVersion"] as? String { patchMetadata["resourceVersion"] = version }
        if !missing.isEmpty { patchMetadata["labels"] = Dictionary(uniqueKeysWithValues: missing.map { ($0, "") }) }
        var patch: [String: Any] = ["metadata": patchMetadata]
        if wantsTaint { patch["spec"] = ["taints": taints + [["key": controlPlaneTaintKey, "effect": "NoSchedule"]]] }
        return try? JSONSerialization.data(withJSONObject: patch, options: [.sortedKeys])
    }
}
