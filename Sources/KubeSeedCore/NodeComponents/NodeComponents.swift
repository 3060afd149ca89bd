import Foundation
import Yams

/// Where the node components' files live (host paths; the guide's layout).
public enum NodePaths {
    public static let containerdConfig = "/etc/containerd/config.toml"
    public static let containerdCertsDir = "/etc/containerd/certs.d"
    public static let containerdSocket = "unix:///run/containerd/containerd.sock"
    public static let crictlConfig = "/etc/crictl.yaml"
    /// Every certificate and key KubeSeed makes or kubelet rotates (the one place this path is spelled).
    public static let certDir = "/etc/kubernetes/cert"
    public static let caCertificate = "\(certDir)/ca.pem"
    public static let bootstrapKubeconfig = "/etc/kubernetes/kubelet-bootstrap.kubeconfig"
    public static let kubeletKubeconfig = "/etc/kubernetes/kubelet.kubeconfig"
    public static let kubeletConfig = "/etc/kubernetes/kubelet-config.yaml"
    public static let kubeProxyConfig = "/etc/kubernetes/kube-proxy-config.yaml"
    public static let kubeProxyKubeconfig = "/etc/kubernetes/kube-proxy.kubeconfig"
    /// kubelet writes its rotated client certificate and key here (`--cert-dir`).
    public static let kubeletClientCertificate = "\(certDir)/kubelet-client-current.pem"
    public static let kubeletUnit = "/etc/systemd/system/kubelet.service"
    public static let kubeProxyUnit = "/etc/systemd/system/kube-proxy.service"
    public static let binDir = "/opt/k8s/bin"
    /// containerd's one CNI `bin_dir`: where DaemonSet-deployed CNIs (flannel, Calico, Cilium) install theirs.
    public static let cniBinDir = "/opt/cni/bin"
    /// Debian's containernetworking-plugins install here; each is linked into `cniBinDir`.
    public static let debianCNIPluginDir = "/usr/lib/cni"
    public static let cniConfDir = "/etc/cni/net.d"
}

/// One file the agent owns for the node components, fully rendered.
public struct RenderedFile: Sendable, Equatable {
    public var path: String
    public var content: String
    public var mode: UInt16
    /// Units to restart when this file's content changes.
    public var restarts: [String]

    public init(_ path: String, _ content: String, mode: UInt16 = 0o644, restarts: [String] = []) {
        self.path = path
        self.content = content
        self.mode = mode
        self.restarts = restarts
    }
}

/// The node facts the join file may leave to the host.
public struct NodeIdentity: Sendable, Equatable {
    public var name: String
    public var ip: String
    public init(name: String, ip: String) {
        self.name = name
        self.ip = ip
    }
}

/// Pure renderers for containerd, crictl, the API balancer, kubelet and kube-proxy from a join file.
public enum NodeComponents {
    static let commentLine = "Written by KubeSeed from the join file; changes here are overwritten."
    public static let header = "# \(commentLine)\n"

    /// Every file the agent writes for the node components, in write order.
    public static func files(_ join: JoinFile, _ node: NodeIdentity) -> [RenderedFile] {
        var files = [
            RenderedFile(NodePaths.containerdConfig, containerdConfig(join), restarts: ["containerd.service"]),
        ]
        for registry in join.containerd.registryMirrors.keys.sorted() {
            files.append(RenderedFile("\(NodePaths.containerdCertsDir)/\(registry)/hosts.toml",
                                      hostsToml(registry: registry, mirrors: join.containerd.registryMirrors[registry]!),
                                      restarts: []))
        }
        files += [
            RenderedFile(NodePaths.crictlConfig, crictl()),
            RenderedFile(NodePaths.caCertificate, join.caCertificatePEM, restarts: ["kubelet.service", APIBalancer.unit]),
        ]
        files += APIBalancer.files(join)
        files += [
            RenderedFile(NodePaths.bootstrapKubeconfig, bootstrapKubeconfig(join), mode: 0o600, restarts: ["kubelet.service"]),
            RenderedFile(NodePaths.kubeletConfig, kubeletConfig(join, node), restarts: ["kubelet.service"]),
            RenderedFile(NodePaths.kubeletUnit, kubeletUnit(join, node), restarts: ["kubelet.service"]),
            RenderedFile(NodePaths.kubeProxyKubeconfig, kubeProxyKubeconfig(join), mode: 0o600, restarts: ["kube-proxy.service"]),
            RenderedFile(NodePaths.kubeProxyConfig, kubeProxyConfig(join, node), restarts: ["kube-proxy.service"]),
            RenderedFile(NodePaths.kubeProxyUnit, kubeProxyUnit(join, node), restarts: ["kube-proxy.service"]),
        ]
        return files
    }

    /// Directories the components need besides the node-preparation layout.
    public static func directories(_ join: JoinFile) -> [DirectorySetting] {
        [
            DirectorySetting("/etc/containerd", mode: 0o755),
            DirectorySetting(join.containerd.root, mode: 0o711),
            DirectorySetting(join.kubelet.rootDir, mode: 0o700),
            DirectorySetting(kubeProxyDirectory(join), mode: 0o755),
            DirectorySetting(ImageArchives.directory, mode: 0o700),
        ] + join.containerd.registryMirrors.keys.sorted().map { DirectorySetting("\(NodePaths.containerdCertsDir)/\($0)", mode: 0o755) }
    }

    // MARK: containerd

    /// containerd 1.6 config, version 2: systemd cgroups for runc, CNI from /opt/cni/bin,
    /// registry mirrors through certs.d (hosts.toml).
    public static func containerdConfig(_ join: JoinFile) -> String {
        let cri = "plugins.\"io.containerd.grpc.v1.cri\""
        return header + """
        version = 2
        root = \(toml(join.containerd.root))
        state = \(toml(join.containerd.state))

        [grpc]
          address = "/run/containerd/containerd.sock"

        [\(cri)]
          sandbox_image = \(toml(join.containerd.sandboxImage))

        [\(cri).cni]
          bin_dir = \(toml(NodePaths.cniBinDir))
          conf_dir = \(toml(NodePaths.cniConfDir))

        [\(cri).containerd]
          default_runtime_name = "runc"

        [\(cri).containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"

        [\(cri).containerd.runtimes.runc.options]
          SystemdCgroup = true

        [\(cri).registry]
          config_path = \(toml(NodePaths.containerdCertsDir))

        # As Debian's own config does: containerd's managed "opt" under its root, not /opt/containerd.
        [plugins."io.containerd.internal.v1.opt"]
          path = \(toml(join.containerd.root + "/opt"))

        """
    }

    /// `certs.d/<registry>/hosts.toml`: pull from the mirrors in order, then the registry itself.
    public static func hostsToml(registry: String, mirrors: [String]) -> String {
        let upstream = registry == "docker.io" ? "https://registry-1.docker.io" : "https://\(registry)"
        var text = header + "server = \(toml(upstream))\n"
        for mirror in mirrors {
            text += "\n[host.\(toml(mirror))]\n  capabilities = [\"pull\", \"resolve\"]\n"
        }
        return text
    }

    /// A TOML basic string.
    static func toml(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f { out += "\\u" + scalar.value.hexDigits(width: 4).uppercased() } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    // MARK: YAML documents

    public static func crictl() -> String {
        YAMLDocument.render(header: header, [
            ("runtime-endpoint", .string(NodePaths.containerdSocket)),
            ("image-endpoint", .string(NodePaths.containerdSocket)),
            ("timeout", .int(10)),
            ("debug", .bool(false)),
        ])
    }

    /// KubeletConfiguration (kubelet.config.k8s.io/v1beta1), with only the fields the join file's
    /// kubelet knows.
    public static func kubeletConfig(_ join: JoinFile, _ node: NodeIdentity) -> String {
        var fields: [(String, YAMLDocument)] = [
            ("apiVersion", .string("kubelet.config.k8s.io/v1beta1")),
            ("kind", .string("KubeletConfiguration")),
            ("address", .string(node.ip)),
            ("authentication", .map([
                ("anonymous", .map([("enabled", .bool(false))])),
                ("webhook", .map([("enabled", .bool(true)), ("cacheTTL", .string("2m0s"))])),
                ("x509", .map([("clientCAFile", .string(NodePaths.caCertificate))])),
            ])),
            ("authorization", .map([
                ("mode", .string("Webhook")),
                ("webhook", .map([("cacheAuthorizedTTL", .string("5m0s")), ("cacheUnauthorizedTTL", .string("30s"))])),
            ])),
            ("cgroupDriver", .string("systemd")),
            ("clusterDNS", .list([.string(join.clusterDNS)])),
            ("clusterDomain", .string(join.clusterDomain)),
            ("failSwapOn", .bool(true)),
            ("healthzBindAddress", .string("127.0.0.1")),
            ("healthzPort", .int(10248)),
            ("maxPods", .int(join.kubelet.maxPods)),
            ("podPidsLimit", .int(join.kubelet.podPidsLimit)),
            ("readOnlyPort", .int(0)),
            ("resolvConf", .string("/etc/resolv.conf")),
            ("rotateCertificates", .bool(true)),
            ("serverTLSBootstrap", .bool(true)),
            ("evictionHard", .map([
                ("memory.available", .string("100Mi")),
                ("nodefs.available", .string("10%")),
                ("nodefs.inodesFree", .string("5%")),
                ("imagefs.available", .string("15%")),
            ])),
        ]
        if join.version.runtimeEndpoint == .configField {
            fields.insert(("containerRuntimeEndpoint", .string(NodePaths.containerdSocket)), at: fields.firstIndex { $0.0 == "failSwapOn" }!)
        }
        return YAMLDocument.render(header: header, fields)
    }

    /// KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) in IPVS mode.
    /// kube-proxy's configuration. `conntrack.maxPerCore: 0` leaves `nf_conntrack_max` to the agent's
    /// sysctls: by default kube-proxy sets it to its own figure at every start, and the agent's next
    /// pass set it back.
    public static func kubeProxyConfig(_ join: JoinFile, _ node: NodeIdentity) -> String {
        YAMLDocument.render(header: header, [
            ("apiVersion", .string("kubeproxy.config.k8s.io/v1alpha1")),
            ("kind", .string("KubeProxyConfiguration")),
            ("bindAddress", .string(node.ip)),
            ("clientConnection", .map([("kubeconfig", .string(NodePaths.kubeProxyKubeconfig))])),
            ("clusterCIDR", .string(join.podCIDR)),
            ("conntrack", .map([("maxPerCore", .int(0))])),
            ("healthzBindAddress", .string("\(IPAddress.urlHost(node.ip)):10256")),
            ("metricsBindAddress", .string("\(IPAddress.urlHost(node.ip)):10249")),
            ("hostnameOverride", .string(node.name)),
            ("mode", .string("ipvs")),
            ("ipvs", .map([("scheduler", .string(join.kubeProxy.ipvsScheduler))])),
        ])
    }


    /// The kubelet's bootstrap kubeconfig: the cluster CA and the bootstrap token (a secret: 0600).
    public static func bootstrapKubeconfig(_ join: JoinFile) -> String {
        kubeconfig(join, user: "kubelet-bootstrap", credentials: [("token", .string(join.token.secretValue))])
    }

    /// kube-proxy authenticates with the kubelet's bootstrapped client certificate (group
    /// `system:nodes`, which `seed init` binds to `system:node-proxier`).
    public static func kubeProxyKubeconfig(_ join: JoinFile) -> String {
        kubeconfig(join, user: "kube-proxy", credentials: [
            ("client-certificate", .string(NodePaths.kubeletClientCertificate)),
            ("client-key", .string(NodePaths.kubeletClientCertificate)),
        ])
    }

    static func kubeconfig(_ join: JoinFile, user: String, credentials: [(String, YAMLDocument)]) -> String {
        kubeconfig(cluster: join.clusterName, server: APIBalancer.server, caPEM: join.caCertificatePEM, user: user, credentials: credentials)
    }

    /// A kubeconfig with one cluster (CA embedded), one user and one context.
    public static func kubeconfig(cluster clusterName: String, server: String, caPEM: String, user: String,
                                  credentials: [(String, YAMLDocument)], header: String = NodeComponents.header) -> String {
        YAMLDocument.render(header: header, [
            ("apiVersion", .string("v1")),
            ("kind", .string("Config")),
            ("clusters", .list([.map([
                ("name", .string(clusterName)),
                ("cluster", .map([
                    ("certificate-authority-data", .string(Data(caPEM.utf8).base64EncodedString())),
                    ("server", .string(server)),
                ])),
            ])])),
            ("contexts", .list([.map([
                ("name", .string("default")),
                ("context", .map([("cluster", .string(clusterName)), ("user", .string(user))])),
            ])])),
            ("current-context", .string("default")),
            ("users", .list([.map([("name", .string(user)), ("user", .map(credentials))])])),
        ])
    }

    // MARK: units

    /// kubelet.service: runs only when the binary is there (the agent reports it missing otherwise).
    public static func kubeletUnit(_ join: JoinFile, _ node: NodeIdentity) -> String {
        var flags = [
            "--bootstrap-kubeconfig=\(NodePaths.bootstrapKubeconfig)",
            "--kubeconfig=\(NodePaths.kubeletKubeconfig)",
            "--config=\(NodePaths.kubeletConfig)",
            "--cert-dir=\(NodePaths.certDir)",
            "--root-dir=\(join.kubelet.rootDir)",
            "--hostname-override=\(node.name)",
            "--node-ip=\(node.ip)",
        ]
        switch join.version.runtimeEndpoint {
        case .remoteRuntimeFlags: flags += ["--container-runtime=remote", "--container-runtime-endpoint=\(NodePaths.containerdSocket)"]
        case .endpointFlag: flags.append("--container-runtime-endpoint=\(NodePaths.containerdSocket)")
        case .configField: break
        }
        // kubelet may set only labels outside the kubernetes.io / k8s.io namespaces on itself
        // (NodeRestriction); roles are labelled from the control plane.
        let labels = join.labels.keys.sorted().map { "\($0)=\(join.labels[$0]!)" }
        if !labels.isEmpty { flags.append("--node-labels=\(labels.joined(separator: ","))") }
        return unit(description: "Kubernetes kubelet", binary: "kubelet", after: ["containerd.service", APIBalancer.unit],
                    wants: [APIBalancer.unit], requires: ["containerd.service"],
                    workingDirectory: join.kubelet.rootDir, flags: flags)
    }

    public static func kubeProxyUnit(_ join: JoinFile, _ node: NodeIdentity) -> String {
        unit(description: "Kubernetes kube-proxy (IPVS)", binary: "kube-proxy", after: ["network-online.target", APIBalancer.unit],
             wants: ["network-online.target", APIBalancer.unit], requires: [],
             workingDirectory: kubeProxyDirectory(join), flags: ["--config=\(NodePaths.kubeProxyConfig)"])
    }

    /// kube-proxy's working directory, beside the kubelet's root.
    static func kubeProxyDirectory(_ join: JoinFile) -> String {
        (join.kubelet.rootDir as NSString).deletingLastPathComponent + "/kube-proxy"
    }

    static func unit(description: String, binary: String, after: [String], wants: [String], requires: [String], workingDirectory: String, flags: [String]) -> String {
        var unitEntries: [(key: String, value: SystemdUnit.Value)] = [
            ("Description", .text(description)),
            ("Documentation", .text("https://kubernetes.io/docs/reference/command-line-tools-reference/\(binary)/")),
            ("After", .text(after.joined(separator: " "))),
        ]
        if !wants.isEmpty { unitEntries.append(("Wants", .text(wants.joined(separator: " ")))) }
        if !requires.isEmpty { unitEntries.append(("Requires", .text(requires.joined(separator: " ")))) }
        unitEntries.append(("ConditionFileIsExecutable", .text("\(NodePaths.binDir)/\(binary)")))
        return SystemdUnit(comment: commentLine, [
            .init("Unit", unitEntries),
            .init("Service", [
                ("WorkingDirectory", .text(workingDirectory)),
                ("ExecStart", .command("\(NodePaths.binDir)/\(binary)", flags)),
                ("Restart", .text("always")), ("RestartSec", .text("5")), ("LimitNOFILE", .text("65536")),
            ]),
            .init("Install", [("WantedBy", .text("multi-user.target"))]),
        ]).render()
    }
}
