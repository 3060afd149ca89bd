import Foundation
import Yams

/// The control plane's files for the first master (guide chapter 05 with flags valid for every
/// minor in `KubernetesVersion`'s table). Pure: certificates, keys and the encryption secret come in as arguments.
public enum ControlPlane {
    static let commentLine = "Written by KubeSeed (seed init); changes here are overwritten."
    public static let header = "# \(commentLine)\n"
    public static let certDir = NodePaths.certDir
    public static let encryptionConfigPath = "/etc/kubernetes/encryption-config.yaml"
    public static let auditPolicyPath = "/etc/kubernetes/audit-policy.yaml"
    public static let schedulerConfigPath = "/etc/kubernetes/kube-scheduler.yaml"
    public static let adminKubeconfigPath = "/etc/kubernetes/admin.kubeconfig"
    /// For a kube-proxy that runs on its own certificate (nodes joined by the agent use the kubelet's).
    public static let kubeProxyKubeconfigPath = "/etc/kubernetes/kube-proxy-client.kubeconfig"
    public static let unitNames = ["kube-apiserver.service", "kube-controller-manager.service", "kube-scheduler.service"]
    /// `seed csr-approver` under systemd: approves kubelet serving certificates that pass every check.
    public static let csrApproverUnit = "kubeseed-csr-approver.service"
    /// Each master's daily `seed certs renew --due`.
    public static let certsRenewTimer = "kubeseed-certs-renew.timer"
    /// Each master's `seed etcd snapshot save` every 12 hours, keeping the last 5 (k3s's defaults).
    public static let etcdSnapshotTimer = "kubeseed-etcd-snapshot.timer"
    public static let seedExecutable = "/usr/bin/seed"

    public struct Cluster: Sendable, Equatable {
        public var name = "kubernetes"
        public var masterIP: String
        public var etcdEndpoints: [String]
        public var serviceCIDR = "10.254.0.0/16"
        public var podCIDR = "172.30.0.0/16"
        public var clusterDomain = "cluster.local"
        public var nodePortRange = "30000-32767"
        /// `--cluster-signing-duration`: how long kubelets' certificates last.
        public var kubeletCertificateDuration = ClusterConfig.defaultKubeletCertificateDuration
        public var dataDir = "/data/k8s/k8s"
        /// The release the binaries are: the version table decides what each renderer writes.
        public var version = KubernetesVersion.newestTabled
        /// etcd's heartbeat and election, the controllers' leader leases.
        public var timing = ControlPlaneTiming()

        public init(masterIP: String, etcdEndpoints: [String]) {
            self.masterIP = masterIP
            self.etcdEndpoints = etcdEndpoints
        }
    }

    static func cert(_ name: String) -> String { "\(certDir)/\(name).pem" }
    static func key(_ name: String) -> String { "\(certDir)/\(name)-key.pem" }

    public static func apiServerFlags(_ c: Cluster) -> [String] {
        [
            "--advertise-address=\(c.masterIP)",
            "--bind-address=0.0.0.0",
            "--secure-port=6443",
            "--allow-privileged=true",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--enable-bootstrap-token-auth=true",
            "--client-ca-file=\(cert("ca"))",
            "--tls-cert-file=\(cert("kube-apiserver"))",
            "--tls-private-key-file=\(key("kube-apiserver"))",
            "--kubelet-client-certificate=\(cert("apiserver-kubelet-client"))",
            "--kubelet-client-key=\(key("apiserver-kubelet-client"))",
            // Every kubelet's serving certificate is CA-signed (serverTLSBootstrap and the approver): verify it.
            "--kubelet-certificate-authority=\(cert("ca"))",
            // Nodes' names need not resolve (air-gapped hosts, no cluster DNS for the API server): dial their IPs.
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--etcd-servers=\(c.etcdEndpoints.joined(separator: ","))",
            "--etcd-cafile=\(cert("etcd-ca"))",
            "--etcd-certfile=\(cert("apiserver-etcd-client"))",
            "--etcd-keyfile=\(key("apiserver-etcd-client"))",
            "--service-account-issuer=https://kubernetes.default.svc.\(c.clusterDomain)",
            "--service-account-key-file=\(certDir)/sa.pub",
            "--service-account-signing-key-file=\(certDir)/sa.key",
            "--service-cluster-ip-range=\(c.serviceCIDR)",
            "--service-node-port-range=\(c.nodePortRange)",
            "--encryption-provider-config=\(encryptionConfigPath)",
            "--audit-policy-file=\(auditPolicyPath)",
            "--audit-log-path=\(c.dataDir)/kube-apiserver/audit.log",
            "--audit-log-maxage=15",
            "--audit-log-maxbackup=3",
            "--audit-log-maxsize=100",
            "--requestheader-client-ca-file=\(cert("ca"))",
            "--requestheader-allowed-names=aggregator",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            "--proxy-client-cert-file=\(cert("front-proxy-client"))",
            "--proxy-client-key-file=\(key("front-proxy-client"))",
            "--enable-aggregator-routing=true",
        ] + c.version.apiServerFlowControlFlags
    }

    public static func controllerManagerFlags(_ c: Cluster) -> [String] {
        let kubeconfig = "/etc/kubernetes/kube-controller-manager.kubeconfig"
        return [
            "--kubeconfig=\(kubeconfig)",
        ] + securedLocally("kube-controller-manager", port: 10257, kubeconfig: kubeconfig) + [
            "--requestheader-client-ca-file=\(cert("ca"))",
            "--cluster-name=\(c.name)",
            "--cluster-signing-cert-file=\(cert("ca"))",
            "--cluster-signing-key-file=\(key("ca"))",
            "--cluster-signing-duration=\(c.kubeletCertificateDuration)",
            "--root-ca-file=\(cert("ca"))",
            "--service-account-private-key-file=\(certDir)/sa.key",
            "--service-cluster-ip-range=\(c.serviceCIDR)",
            "--cluster-cidr=\(c.podCIDR)",
            "--allocate-node-cidrs=true",
            "--controllers=*,bootstrapsigner,tokencleaner",
            "--use-service-account-credentials=true",
            "--leader-elect=true",
        ] + c.timing.controllerManagerFlags + c.version.controllerManagerInsecurePortFlags
    }

    public static func schedulerFlags(_ c: Cluster) -> [String] {
        let kubeconfig = "/etc/kubernetes/kube-scheduler.kubeconfig"
        return [
            "--config=\(schedulerConfigPath)",
        ] + securedLocally("kube-scheduler", port: 10259, kubeconfig: kubeconfig) + c.version.schedulerInsecurePortFlags
    }

    /// Serving on 127.0.0.1 with the component's own certificate, delegating authn/authz to the API server.
    static func securedLocally(_ component: String, port: Int, kubeconfig: String) -> [String] {
        [
            "--authentication-kubeconfig=\(kubeconfig)",
            "--authorization-kubeconfig=\(kubeconfig)",
            "--bind-address=127.0.0.1",
            "--secure-port=\(port)",
            "--tls-cert-file=\(cert(component))",
            "--tls-private-key-file=\(key(component))",
            "--client-ca-file=\(cert("ca"))",
        ]
    }

    /// KubeSchedulerConfiguration in the apiVersion `version`'s scheduler reads.
    public static func schedulerConfig(_ version: KubernetesVersion, timing: ControlPlaneTiming = ControlPlaneTiming()) -> String {
        YAMLDocument.render(header: header, [
            ("apiVersion", .string(version.schedulerConfigAPIVersion)),
            ("kind", .string("KubeSchedulerConfiguration")),
            ("clientConnection", .map([("kubeconfig", .string("/etc/kubernetes/kube-scheduler.kubeconfig"))])),
            ("leaderElection", .map([("leaderElect", .bool(true))] + timing.schedulerLeaderElection)),
        ])
    }

    /// EncryptionConfiguration: Secrets encrypted with AES-CBC under `key` (32 random bytes), identity to read old data.
    public static func encryptionConfig(key: [UInt8]) -> String {
        YAMLDocument.render(header: header, [
            ("apiVersion", .string("apiserver.config.k8s.io/v1")),
            ("kind", .string("EncryptionConfiguration")),
            ("resources", .list([.map([
                ("resources", .list([.string("secrets")])),
                ("providers", .list([
                    .map([("aescbc", .map([("keys", .list([.map([
                        ("name", .string("key1")),
                        ("secret", .string(Data(key).base64EncodedString())),
                    ])]))]))]),
                    .map([("identity", .map([]))]),
                ])),
            ])])),
        ])
    }

    /// An audit policy: nothing for health checks and kube-proxy's watches, metadata for secrets and the rest.
    public static func auditPolicy() -> String {
        YAMLDocument.render(header: header, [
            ("apiVersion", .string("audit.k8s.io/v1")),
            ("kind", .string("Policy")),
            ("omitStages", .list([.string("RequestReceived")])),
            ("rules", .list([
                .map([("level", .string("None")), ("users", .list([.string("system:kube-proxy")])), ("verbs", .list([.string("watch")])),
                      ("resources", .list([.map([("group", .string("")), ("resources", .list([.string("endpoints"), .string("services"), .string("services/status")]))])]))]),
                .map([("level", .string("None")), ("nonResourceURLs", .list([.string("/healthz*"), .string("/livez*"), .string("/readyz*"), .string("/version")]))]),
                .map([("level", .string("Metadata")),
                      ("resources", .list([.map([("group", .string("")), ("resources", .list([.string("secrets"), .string("configmaps"), .string("serviceaccounts/token")]))])]))]),
                .map([("level", .string("Metadata"))]),
            ])),
        ])
    }

    /// How long systemd lets kube-apiserver stop before it kills it, in seconds.
    public static let apiServerStopSeconds = 20

    /// The unit for one control-plane binary in /opt/k8s/bin; `stopSeconds`, when set, bounds its stop.
    public static func unit(_ binary: String, description: String, flags: [String], after: [String], workingDirectory: String,
                            stopSeconds: Int? = nil) -> String {
        SystemdUnit(comment: commentLine, [
            .init("Unit", [
                ("Description", .text(description)),
                ("Documentation", .text("https://kubernetes.io/docs/reference/command-line-tools-reference/\(binary)/")),
                ("After", .text(after.joined(separator: " "))),
                ("ConditionFileIsExecutable", .text("\(NodePaths.binDir)/\(binary)")),
            ]),
            .init("Service", [
                ("WorkingDirectory", .text(workingDirectory)),
                ("ExecStart", .command("\(NodePaths.binDir)/\(binary)", flags)),
                ("Restart", .text("on-failure")), ("RestartSec", .text("5")), ("LimitNOFILE", .text("65536")),
            ] + (stopSeconds.map { [("TimeoutStopSec", .text("\($0)"))] } ?? [])),
            .init("Install", [("WantedBy", .text("multi-user.target"))]),
        ]).render()
    }

    /// The approver runs where the API server can: it starts with it and retries (with backoff) until it answers.
    public static func csrApproverUnitText() -> String {
        SystemdUnit(comment: commentLine, [
            .init("Unit", [
                ("Description", .text("KubeSeed kubelet-serving CSR approver")),
                ("After", .text("kube-apiserver.service")),
                ("ConditionFileIsExecutable", .text("\(NodePaths.binDir)/kube-apiserver")),
            ]),
            .init("Service", [
                ("Type", .text("notify")),
                ("ExecStart", .command(seedExecutable, ["csr-approver"])),
                ("Restart", .text("on-failure")), ("RestartSec", .text("5")),
            ]),
            .init("Install", [("WantedBy", .text("multi-user.target"))]),
        ]).render()
    }

    /// A one-shot run of `seed ARGUMENTS` that `timer` starts; the timer fires at `calendar` (systemd's
    /// OnCalendar) spread over `spread`, and catches up after a time the master was off.
    public static func maintenanceUnits(_ name: String, description: String, arguments: [String], calendar: String, spread: String)
        -> [(path: String, content: String)] {
        let service = SystemdUnit(comment: commentLine, [
            .init("Unit", [
                ("Description", .text(description)),
                ("ConditionFileIsExecutable", .text(seedExecutable)),
                ("After", .text("etcd.service kube-apiserver.service")),
            ]),
            .init("Service", [
                ("Type", .text("oneshot")),
                ("ExecStart", .command(seedExecutable, arguments)),
            ]),
        ]).render()
        let timer = SystemdUnit(comment: commentLine, [
            .init("Unit", [("Description", .text("\(description), on a schedule"))]),
            .init("Timer", [
                ("OnCalendar", .text(calendar)),
                ("RandomizedDelaySec", .text(spread)),
                ("Persistent", .text("true")),
            ]),
            .init("Install", [("WantedBy", .text("timers.target"))]),
        ]).render()
        return [("/etc/systemd/system/\(name).service", service), ("/etc/systemd/system/\(name).timer", timer)]
    }

    /// A client certificate and its key (PEM) to embed in a kubeconfig.
    public struct Credential: Sendable, Equatable {
        public var certificatePEM: String
        public var keyPEM: String
        public init(certificatePEM: String, keyPEM: String) {
            self.certificatePEM = certificatePEM
            self.keyPEM = keyPEM
        }
    }

    /// A kubeconfig with the certificate and key embedded (0600 where written).
    public static func kubeconfig(_ c: Cluster, server: String, caPEM: String, user: String, _ credential: Credential) -> String {
        NodeComponents.kubeconfig(cluster: c.name, server: server, caPEM: caPEM, user: user, credentials: [
            ("client-certificate-data", .string(Data(credential.certificatePEM.utf8).base64EncodedString())),
            ("client-key-data", .string(Data(credential.keyPEM.utf8).base64EncodedString())),
        ], header: header)
    }

    /// A kubeconfig the control plane writes with a certificate inside: where, as whom, with which
    /// certificate, whether through the node-local balancer, and the unit that reads it.
    public struct EmbeddedKubeconfig: Sendable, Equatable {
        public var path: String
        public var user: String
        public var certificate: String
        public var balanced: Bool
        public var readers: [String]
    }

    /// The controller manager and scheduler reach the API servers through the node-local balancer
    /// (every master is a node): losing this master's API server does not stop them.
    public static let embeddedKubeconfigs = [
        EmbeddedKubeconfig(path: adminKubeconfigPath, user: "admin", certificate: "admin", balanced: false, readers: []),
        EmbeddedKubeconfig(path: "/etc/kubernetes/kube-controller-manager.kubeconfig", user: "system:kube-controller-manager",
                           certificate: "kube-controller-manager", balanced: true, readers: ["kube-controller-manager.service"]),
        EmbeddedKubeconfig(path: "/etc/kubernetes/kube-scheduler.kubeconfig", user: "system:kube-scheduler", certificate: "kube-scheduler",
                           balanced: true, readers: ["kube-scheduler.service"]),
        EmbeddedKubeconfig(path: kubeProxyKubeconfigPath, user: "system:kube-proxy", certificate: "kube-proxy", balanced: false, readers: []),
    ]

    /// The kubeconfigs of `embeddedKubeconfigs` that `credentials` (keyed by certificate name) has a pair for.
    public static func kubeconfigs(_ c: Cluster, caPEM: String, credentials: [String: Credential]) -> [RenderedFile] {
        embeddedKubeconfigs.compactMap { entry in
            guard let credential = credentials[entry.certificate] else { return nil }
            let server = entry.balanced ? APIBalancer.server : IPAddress.httpsURL(c.masterIP, port: 6443)
            return RenderedFile(entry.path, kubeconfig(c, server: server, caPEM: caPEM, user: entry.user, credential), mode: 0o600, restarts: entry.readers)
        }
    }

    /// Every file the first master's control plane needs, with modes and the units each one restarts.
    /// `credentials` are keyed by certificate name: admin, kube-controller-manager, kube-scheduler, kube-proxy.
    public static func files(_ c: Cluster, caPEM: String, credentials: [String: Credential], encryptionKey: [UInt8]) -> [RenderedFile] {
        var files = kubeconfigs(c, caPEM: caPEM, credentials: credentials)
        files.append(RenderedFile(encryptionConfigPath, encryptionConfig(key: encryptionKey), mode: 0o600, restarts: ["kube-apiserver.service"]))
        files.append(RenderedFile(auditPolicyPath, auditPolicy(), restarts: ["kube-apiserver.service"]))
        files.append(RenderedFile(schedulerConfigPath, schedulerConfig(c.version, timing: c.timing), restarts: ["kube-scheduler.service"]))
        for (path, content) in units(c) {
            let unit = String(path.split(separator: "/").last!)
            files.append(RenderedFile(path, content, restarts: [unit]))
        }
        return files
    }

    /// The working directories of the units (the API server writes its audit log there).
    public static func directories(_ c: Cluster) -> [DirectorySetting] {
        ["kube-apiserver", "kube-controller-manager", "kube-scheduler"].map { DirectorySetting("\(c.dataDir)/\($0)", mode: 0o700) }
    }

    /// The AES key in an encryption config this module wrote, so a re-run keeps it (a new key would
    /// make every stored Secret unreadable). `nil` when the text is not such a file.
    public static func encryptionKey(in text: String) -> [UInt8]? {
        guard let node = try? YAMLTags.compose(text),
              let resources = node["resources"]?.sequence?.first,
              let provider = resources["providers"]?.sequence?.first,
              let key = provider["aescbc"]?["keys"]?.sequence?.first,
              let secret = key["secret"]?.string,
              let bytes = Data(base64Encoded: secret), bytes.count == 32 else { return nil }
        return Array(bytes)
    }

    public static func units(_ c: Cluster) -> [(path: String, content: String)] {
        [
            ("/etc/systemd/system/kube-apiserver.service",
             unit("kube-apiserver", description: "Kubernetes API server", flags: apiServerFlags(c), after: ["network-online.target", "etcd.service"],
                  // On SIGTERM it stops listening at once, then waits its request timeout (60 s) for watches,
                  // which never end by themselves: killed after apiServerStopSeconds, as the kubelet kills a
                  // static pod after its grace period; clients reconnect through the balancer either way.
                  workingDirectory: "\(c.dataDir)/kube-apiserver", stopSeconds: apiServerStopSeconds)),
            ("/etc/systemd/system/kube-controller-manager.service",
             unit("kube-controller-manager", description: "Kubernetes controller manager", flags: controllerManagerFlags(c), after: ["kube-apiserver.service"],
                  workingDirectory: "\(c.dataDir)/kube-controller-manager")),
            ("/etc/systemd/system/kube-scheduler.service",
             unit("kube-scheduler", description: "Kubernetes scheduler", flags: schedulerFlags(c), after: ["kube-apiserver.service"],
                  workingDirectory: "\(c.dataDir)/kube-scheduler")),
            ("/etc/systemd/system/\(csrApproverUnit)", csrApproverUnitText()),
        ] + maintenanceUnits("kubeseed-certs-renew", description: "KubeSeed: renew certificates within 30 days of expiry",
                             arguments: ["certs", "renew", "--due"], calendar: "daily", spread: "1h")
          + maintenanceUnits("kubeseed-etcd-snapshot", description: "KubeSeed: etcd snapshot",
                             arguments: ["etcd", "snapshot", "save", "--keep", "5"], calendar: "*-*-* 00/12:00:00", spread: "10min")
    }
}
