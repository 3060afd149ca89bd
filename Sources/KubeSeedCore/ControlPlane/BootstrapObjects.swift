import Foundation

/// The API objects TLS bootstrapping needs (guide chapter 06-4, as kubeadm does it today).
public enum BootstrapObjects {
    /// The extra group a KubeSeed bootstrap token authenticates as (besides `system:bootstrappers`).
    public static let tokenGroup = "system:bootstrappers:kubeseed:default-node-token"
    static let rbac = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    static let secrets = "/api/v1/namespaces/kube-system/secrets"

    public struct Binding: Sendable, Equatable {
        public var name: String
        public var clusterRole: String
        public var subjectKind: String
        public var subject: String
    }

    /// Who may do what: token holders create CSRs, their first client CSR and renewals are approved
    /// automatically, the API server may reach kubelets, and kube-proxy (running on the kubelet's
    /// client certificate, so as a member of `system:nodes`) may watch what it proxies.
    public static let bindings: [Binding] = [
        Binding(name: "kubeseed:kubelet-bootstrap", clusterRole: "system:node-bootstrapper", subjectKind: "Group", subject: tokenGroup),
        Binding(name: "kubeseed:node-autoapprove-bootstrap", clusterRole: "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                subjectKind: "Group", subject: tokenGroup),
        Binding(name: "kubeseed:node-autoapprove-certificate-rotation",
                clusterRole: "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", subjectKind: "Group", subject: "system:nodes"),
        Binding(name: "kubeseed:apiserver-kubelet-client", clusterRole: "system:kubelet-api-admin", subjectKind: "User",
                subject: "kube-apiserver-kubelet-client"),
        Binding(name: "kubeseed:node-proxier", clusterRole: "system:node-proxier", subjectKind: "Group", subject: "system:nodes"),
    ]

    static func json(_ object: [String: Any]) -> Data {
        // Dictionaries of strings, arrays and dictionaries always serialize.
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    static let managedBy = ["app.kubernetes.io/managed-by": "kubeseed"]

    public static func createBinding(_ binding: Binding) -> APIRequest {
        var subject: [String: Any] = ["kind": binding.subjectKind, "name": binding.subject]
        subject["apiGroup"] = "rbac.authorization.k8s.io"
        return APIRequest(.post, rbac, body: json([
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": ["name": binding.name, "labels": managedBy],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": binding.clusterRole],
            "subjects": [subject],
        ]), object: "ClusterRoleBinding \(binding.name)")
    }

    /// The Secret that makes a bootstrap token valid (`bootstrap.kubernetes.io/token`), with an expiry
    /// the token cleaner enforces.
    public static func createTokenSecret(_ token: BootstrapToken, expires: Date, node: String) -> APIRequest {
        let secret = String(token.secretValue.split(separator: ".")[1])
        return APIRequest(.post, secrets, body: json([
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": ["name": "bootstrap-token-\(token.id)", "namespace": "kube-system", "labels": managedBy],
            "type": "bootstrap.kubernetes.io/token",
            "stringData": [
                "description": "kubeseed join file for \(node)",
                "token-id": token.id,
                "token-secret": secret,
                "expiration": Timestamp.string(expires),
                "usage-bootstrap-authentication": "true",
                "usage-bootstrap-signing": "true",
                "auth-extra-groups": tokenGroup,
            ],
        ]), object: "Secret kube-system/bootstrap-token-\(token.id)")
    }

    public static func deleteTokenSecret(id: String) -> APIRequest {
        APIRequest(.delete, "\(secrets)/bootstrap-token-\(id)", object: "Secret kube-system/bootstrap-token-\(id)")
    }

    /// Everything `seed init` creates once the API server is ready, in order.
    public static func initRequests(tokens: [TokenRecord]) -> [APIRequest] {
        bindings.map(createBinding) + tokens.map { createTokenSecret($0.token, expires: $0.expires, node: $0.node) }
    }
}
