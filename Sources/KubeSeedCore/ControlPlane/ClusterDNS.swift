import Foundation

/// CoreDNS as the cluster's DNS at `clusterDNS`, as kubeadm deploys it: a ServiceAccount, its RBAC,
/// the Corefile for `clusterDomain`, a Deployment of two replicas and the `kube-dns` Service. Created
/// once; an object already there (an operator's edit included) is left as it is. Pure.
public enum ClusterDNS {
    public static let defaultImage = "registry.k8s.io/coredns/coredns:v1.11.3"
    static let namespace = "kube-system"
    static let labels = ["k8s-app": "kube-dns", "app.kubernetes.io/managed-by": "kubeseed"]

    public static func corefile(domain: String) -> String {
        """
        .:53 {
            errors
            health {
                lameduck 5s
            }
            ready
            kubernetes \(domain) in-addr.arpa ip6.arpa {
                pods insecure
                fallthrough in-addr.arpa ip6.arpa
                ttl 30
            }
            prometheus :9153
            forward . /etc/resolv.conf {
                max_concurrent 1000
            }
            cache 30
            loop
            reload
            loadbalance
        }

        """
    }

    /// The objects, in the order they are created.
    public static func requests(_ config: ClusterConfig) -> [APIRequest] {
        let json = BootstrapObjects.json
        let rbac = "/apis/rbac.authorization.k8s.io/v1"
        return [
            APIRequest(.post, "/api/v1/namespaces/\(namespace)/serviceaccounts", body: json([
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": ["name": "coredns", "namespace": namespace, "labels": labels],
            ]), object: "ServiceAccount kube-system/coredns"),
            APIRequest(.post, "\(rbac)/clusterroles", body: json([
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": ["name": "system:coredns", "labels": labels],
                "rules": [
                    ["apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]],
                    ["apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]],
                ],
            ]), object: "ClusterRole system:coredns"),
            APIRequest(.post, "\(rbac)/clusterrolebindings", body: json([
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": ["name": "system:coredns", "labels": labels],
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"],
                "subjects": [["kind": "ServiceAccount", "name": "coredns", "namespace": namespace]],
            ]), object: "ClusterRoleBinding system:coredns"),
            APIRequest(.post, "/api/v1/namespaces/\(namespace)/configmaps", body: json([
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": ["name": "coredns", "namespace": namespace, "labels": labels],
                "data": ["Corefile": corefile(domain: config.clusterDomain)],
            ]), object: "ConfigMap kube-system/coredns"),
            APIRequest(.post, "/apis/apps/v1/namespaces/\(namespace)/deployments", body: json(deployment(image: config.dnsImage)),
                       object: "Deployment kube-system/coredns"),
            APIRequest(.post, "/api/v1/namespaces/\(namespace)/services", body: json([
                "apiVersion": "v1", "kind": "Service",
                "metadata": ["name": "kube-dns", "namespace": namespace, "labels": labels,
                             "annotations": ["prometheus.io/port": "9153", "prometheus.io/scrape": "true"]],
                "spec": [
                    "selector": ["k8s-app": "kube-dns"],
                    "clusterIP": config.clusterDNS,
                    "ports": [
                        ["name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53],
                        ["name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53],
                        ["name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153],
                    ],
                ],
            ]), object: "Service kube-system/kube-dns"),
        ]
    }

    static func deployment(image: String) -> [String: Any] {
        let container: [String: Any] = [
            "name": "coredns",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "args": ["-conf", "/etc/coredns/Corefile"],
            "resources": ["limits": ["memory": "170Mi"], "requests": ["cpu": "100m", "memory": "70Mi"]],
            "volumeMounts": [["name": "config-volume", "mountPath": "/etc/coredns", "readOnly": true]],
            "ports": [
                ["name": "dns", "containerPort": 53, "protocol": "UDP"],
                ["name": "dns-tcp", "containerPort": 53, "protocol": "TCP"],
                ["name": "metrics", "containerPort": 9153, "protocol": "TCP"],
            ],
            "securityContext": [
                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                "capabilities": ["add": ["NET_BIND_SERVICE"], "drop": ["ALL"]],
            ],
            "livenessProbe": ["httpGet": ["path": "/health", "port": 8080, "scheme": "HTTP"],
                              "initialDelaySeconds": 60, "timeoutSeconds": 5, "successThreshold": 1, "failureThreshold": 5],
            "readinessProbe": ["httpGet": ["path": "/ready", "port": 8181, "scheme": "HTTP"]],
        ]
        return [
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ["name": "coredns", "namespace": namespace, "labels": labels],
            "spec": [
                "replicas": 2,
                "strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": 1]],
                "selector": ["matchLabels": ["k8s-app": "kube-dns"]],
                "template": [
                    "metadata": ["labels": ["k8s-app": "kube-dns"]],
                    "spec": [
                        "priorityClassName": "system-cluster-critical",
                        "serviceAccountName": "coredns",
                        "tolerations": [["key": "CriticalAddonsOnly", "operator": "Exists"],
                                        ["key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"]],
                        "nodeSelector": ["kubernetes.io/os": "linux"],
                        "affinity": ["podAntiAffinity": ["preferredDuringSchedulingIgnoredDuringExecution": [[
                            "weight": 100,
                            "podAffinityTerm": ["labelSelector": ["matchExpressions": [["key": "k8s-app", "operator": "In", "values": ["kube-dns"]]]],
                                                "topologyKey": "kubernetes.io/hostname"],
                        ]]]],
                        "containers": [container],
                        "dnsPolicy": "Default",
                        "volumes": [["name": "config-volume", "configMap": ["name": "coredns", "items": [["key": "Corefile", "path": "Corefile"]]]]],
                    ],
                ],
            ],
        ]
    }

    public static let deploymentPath = "/apis/apps/v1/namespaces/\(namespace)/deployments/coredns"

    /// What a re-run says when the CoreDNS Deployment already there runs another image than `wanted`
    /// (`cluster.dnsImage` changed since): KubeSeed leaves it, the operator decides. `nil` when it matches.
    public static func imageDrift(deployment: Data, wanted: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: deployment) as? [String: Any],
              let spec = (object["spec"] as? [String: Any])?["template"] as? [String: Any],
              let containers = (spec["spec"] as? [String: Any])?["containers"] as? [[String: Any]],
              let image = containers.first(where: { $0["name"] as? String == "coredns" })?["image"] as? String else {
            return "the coredns Deployment has no coredns container: left as it is"
        }
        guard image != wanted else { return nil }
        return "the coredns Deployment runs \(image), not cluster.dnsImage \(wanted): left as it is "
            + "(kubectl -n \(namespace) set image deployment/coredns coredns=\(wanted))"
    }
}
