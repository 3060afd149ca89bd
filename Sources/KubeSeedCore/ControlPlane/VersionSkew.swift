import Foundation

/// Kubernetes' version skew policy, as `seed upgrade plan` checks an upgrade against what runs. Pure.
///
/// - API servers move one minor at a time, and never back.
/// - The controller manager and scheduler are never newer than an API server, at most one minor older.
/// - A kubelet or kube-proxy is never newer than an API server, and at most two minors older (three from
///   1.28's API servers on).
/// - So the control plane goes first; a node follows once every API server runs the new release.
public enum VersionSkew {
    /// What runs, by component and where.
    public struct Installed: Sendable, Equatable {
        /// API server address → its version.
        public var apiServers: [String: KubernetesVersion] = [:]
        /// Node name → its kubelet's version.
        public var kubelets: [String: KubernetesVersion] = [:]
        /// Node name → its kube-proxy's version.
        public var kubeProxies: [String: KubernetesVersion] = [:]
        public init() {}
    }

    /// How many minors a kubelet may trail an API server of `apiServer`'s release.
    public static func kubeletLag(_ apiServer: KubernetesVersion) -> Int { apiServer.minor >= 28 ? 3 : 2 }

    /// Why the control plane cannot move to `target` now; empty when it can. The nodes are checked
    /// against `target` as the API servers' release (a kubelet left too far behind must move first).
    public static func controlPlaneProblems(_ installed: Installed, to target: KubernetesVersion) -> [String] {
        var problems: [String] = []
        guard target.major == 1 else { return ["\(target) is not a Kubernetes 1.x release"] }
        for (server, version) in installed.apiServers.sorted(by: { $0.key < $1.key }) {
            if target < version { problems.append("the API server at \(server) runs \(version): \(target) would be a downgrade") }
            if target.minor > version.minor + 1 {
                problems.append("the API server at \(server) runs \(version): one minor at a time (v1.\(version.minor + 1) first)")
            }
        }
        let lag = kubeletLag(target)
        for (kind, versions) in [("kubelet", installed.kubelets), ("kube-proxy", installed.kubeProxies)] {
            for (node, version) in versions.sorted(by: { $0.key < $1.key }) where version.minor < target.minor - lag {
                problems.append("\(kind) on \(node) runs \(version), more than \(lag) minors behind \(target): upgrade it to v1.\(target.minor - lag) or later first")
            }
        }
        return problems
    }

    /// Why a node's kubelet and kube-proxy cannot move to `target` now: never newer than an API server.
    public static func nodeProblems(_ installed: Installed, node: String, to target: KubernetesVersion) -> [String] {
        guard let oldest = installed.apiServers.values.min() else { return ["no API server's version is known"] }
        var problems: [String] = []
        if target > oldest {
            problems.append("\(node) would run \(target), newer than the API server's \(oldest): upgrade every master first")
        }
        if target.minor < oldest.minor - kubeletLag(oldest) {
            problems.append("\(target) is more than \(kubeletLag(oldest)) minors behind the API servers' \(oldest)")
        }
        if let current = installed.kubelets[node], target < current {
            problems.append("\(node)'s kubelet runs \(current): \(target) would be a downgrade")
        }
        return problems
    }
}

/// Reading what the API says runs.
extension VersionSkew {
    /// The release in a reported version (`v1.20.2`, `v1.20.2-dirty`, `v1.27.3+k3s1`: the part before `-` or `+`).
    public static func release(_ reported: String) -> KubernetesVersion? {
        KubernetesVersion(String(reported.prefix { $0 != "-" && $0 != "+" }))
    }

    /// `gitVersion` of an API server's `/version` answer.
    public static func apiServerVersion(in body: Data) -> KubernetesVersion? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let text = object["gitVersion"] as? String else { return nil }
        return release(text)
    }

    public struct AnswerError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Each Node's kubelet and kube-proxy version (`status.nodeInfo`), from a NodeList; a node that
    /// reports none (not started yet) is left out.
    public static func nodeVersions(in body: Data) throws -> (kubelets: [String: KubernetesVersion], kubeProxies: [String: KubernetesVersion]) {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let items = object["items"] as? [[String: Any]] else {
            throw AnswerError(description: "the API server's node list is not a NodeList")
        }
        var kubelets: [String: KubernetesVersion] = [:], proxies: [String: KubernetesVersion] = [:]
        for item in items {
            guard let name = (item["metadata"] as? [String: Any])?["name"] as? String else { continue }
            let info = (item["status"] as? [String: Any])?["nodeInfo"] as? [String: Any] ?? [:]
            if let kubelet = (info["kubeletVersion"] as? String).flatMap(release) { kubelets[name] = kubelet }
            if let proxy = (info["kubeProxyVersion"] as? String).flatMap(release) { proxies[name] = proxy }
        }
        return (kubelets, proxies)
    }
}
