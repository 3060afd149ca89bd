import Foundation
import X509

/// A bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`). Its description never shows the secret.
public struct BootstrapToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let id: String
    /// The whole token; only for the bootstrap kubeconfig (a 0600 file). Never log it.
    public let secretValue: String

    public init?(_ token: String) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        func ok(_ part: Substring, _ count: Int) -> Bool {
            part.count == count && part.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        }
        guard parts.count == 2, ok(parts[0], 6), ok(parts[1], 16) else { return nil }
        id = String(parts[0])
        secretValue = token
    }

    public var description: String { "\(id).<redacted>" }
    public var debugDescription: String { description }
}

/// The join file a node agent reads (`/etc/kubeseed/join.yaml`), validated. See README for the format.
public struct JoinFile: Sendable, Equatable {
    public static let apiVersion = "kubeseed.io/v1alpha1"
    public static let kind = "JoinConfiguration"
    public static let defaultPath = "/etc/kubeseed/join.yaml"

    public var clusterName = "kubernetes"
    public var kubernetesVersion = ""
    /// `kubernetesVersion`, parsed (it was validated when read).
    public var version: KubernetesVersion { KubernetesVersion(kubernetesVersion) ?? .newestTabled }
    public var apiServerEndpoints: [String] = []
    /// Not read from the file: the file's own API servers, kept as the balancer's fallback once the agent
    /// has replaced `apiServerEndpoints` with the servers the cluster lists (`APIBalancer.config`).
    public var fallbackAPIServerEndpoints: [String] = []
    public var caCertificatePEM = ""
    public var token: BootstrapToken
    public var tokenExpires: Date
    public var serviceCIDR = "10.254.0.0/16"
    public var podCIDR = "172.30.0.0/16"
    public var clusterDNS = "10.254.0.2"
    public var clusterDomain = "cluster.local"
    /// `nil`: the host name.
    public var nodeName: String?
    /// `nil`: the address on the default-route interface.
    public var nodeIP: String?
    public var roles: [String] = ["worker"]
    public var labels: [String: String] = [:]
    public var containerd = ContainerdSettings()
    public var kubelet = KubeletSettings()
    public var kubeProxy = KubeProxySettings()
    public var host = NodePrepSettings()
    /// The sealed shared secrets of a control-plane join file (for `seed join`); `nil` for a node.
    public var controlPlane: ControlPlaneSecrets?
}

/// The `controlPlane` section of a control-plane join file: the masters' shared secrets, sealed with
/// a one-time key that is not in the file (see `SealedSecrets`), and the deadline sealed with them.
public struct ControlPlaneSecrets: Sendable, Equatable {
    /// Base64 of nonce, ciphertext and tag.
    public var sealed: String
    public var expires: Date
    /// The line of `controlPlane.secrets`, for messages.
    public var line: Int?
    /// The role a master's join files carry.
    public static let role = "control-plane"
    /// How long a control-plane join file's secrets open by default (kubeadm's certificate key: 2 h).
    public static let defaultLifetime: TimeInterval = 2 * 3600

    public init(sealed: String, expires: Date, line: Int? = nil) {
        self.sealed = sealed
        self.expires = expires
        self.line = line
    }

    public static func == (a: ControlPlaneSecrets, b: ControlPlaneSecrets) -> Bool { a.sealed == b.sealed && a.expires == b.expires }
}

public struct ContainerdSettings: Sendable, Equatable {
    public var root = "/data/k8s/containerd/root"
    public var state = "/run/containerd"
    public var sandboxImage = ContainerdSettings.defaultSandboxImage
    public static let defaultSandboxImage = "registry.k8s.io/pause:3.9"
    /// Registry host → mirror endpoints, in order.
    public var registryMirrors: [String: [String]] = [:]
    public init() {}
}

public struct KubeletSettings: Sendable, Equatable {
    public var maxPods = 220
    public var podPidsLimit = -1
    public var rootDir = "/data/k8s/k8s/kubelet"
    public init() {}
}

public struct KubeProxySettings: Sendable, Equatable {
    /// IPVS scheduler: rr, wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq.
    public var ipvsScheduler = "rr"
    public init() {}
    static let schedulers: Set<String> = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq"]
}

extension JoinFile {
    /// Parses and validates a join file. Every problem is a `ConfigError` naming the field and line;
    /// `now` decides whether the token has expired and the CA is valid; `tokenExpiryMatters` `false`
    /// accepts an expired token (a node whose kubelet has bootstrapped needs it no more).
    /// The file holds a bootstrap token, so no message repeats a value from it (`SecretRedaction`).
    public static func parse(_ text: String, file: String, now: Date = Date(), tokenExpiryMatters: Bool = true) throws -> JoinFile {
        do {
            return try parseRevealingValues(text, file: file, now: now, tokenExpiryMatters: tokenExpiryMatters)
        } catch let error as ConfigError {
            throw error.withholdingValues(of: text)
        }
    }

    static func parseRevealingValues(_ text: String, file: String, now: Date, tokenExpiryMatters: Bool = true) throws -> JoinFile {
        var sections: [String: YAMLField] = [:]
        for (key, value) in try YAMLField.document(text, file: file, apiVersion: apiVersion, kind: kind,
                                                   sections: ["cluster", "bootstrap", "node", "containerd", "kubelet", "kubeProxy", "host", "controlPlane"]) {
            sections[key] = value
        }
        guard let cluster = sections["cluster"] else { throw ConfigError(.missingField, file: file, field: "cluster", "required") }
        guard let bootstrap = sections["bootstrap"] else { throw ConfigError(.missingField, file: file, field: "bootstrap", "required") }

        let (token, expires) = try parseBootstrap(bootstrap, now: tokenExpiryMatters ? now : .distantPast)
        var join = JoinFile(token: token, tokenExpires: expires)
        try parseCluster(cluster, into: &join, now: now)
        if let node = sections["node"] { try parseNode(node, into: &join) }
        if let controlPlane = sections["controlPlane"] { try parseControlPlane(controlPlane, into: &join) }
        // host first: containerd.root and kubelet.rootDir follow host.dataDir unless given explicitly.
        if let host = sections["host"] { try HostSettingsParser.apply(host, to: &join.host) }
        join.containerd.root = join.host.containerdRoot
        join.kubelet.rootDir = join.host.kubeletRootDir
        if let containerd = sections["containerd"] {
            try parseContainerd(containerd, into: &join)
            if join.containerd.root == join.containerd.state {
                throw containerd.error(.invalidValue, "root and state must be different directories (containerd refuses to start otherwise)")
            }
        }
        if let kubelet = sections["kubelet"] { try parseKubelet(kubelet, into: &join) }
        if let proxy = sections["kubeProxy"] {
            for (key, value) in try proxy.mapping(allowedKeys: ["ipvsScheduler"]) where key == "ipvsScheduler" {
                let scheduler = try value.string()
                guard KubeProxySettings.schedulers.contains(scheduler) else {
                    throw value.error(.invalidValue, "'\(scheduler)' is not an IPVS scheduler (\(KubeProxySettings.schedulers.sorted().joined(separator: ", ")))")
                }
                join.kubeProxy.ipvsScheduler = scheduler
            }
        }
        return join
    }

    static func parseBootstrap(_ field: YAMLField, now: Date) throws -> (BootstrapToken, Date) {
        var token: BootstrapToken?
        var expires: Date?
        for (key, value) in try field.mapping(allowedKeys: ["token", "expires"]) {
            if key == "token" {
                guard let parsed = BootstrapToken(try value.string()) else {
                    // The message must not echo the value: it may be a real secret with a typo.
                    throw value.error(.invalidValue, "not a bootstrap token of the form [a-z0-9]{6}.[a-z0-9]{16}")
                }
                token = parsed
            } else {
                let text = try value.scalarText()
                guard let date = Timestamp.date(text) else {
                    throw value.error(.invalidValue, "'\(text)' is not an RFC 3339 time like 2026-12-01T00:00:00Z")
                }
                guard date > now else {
                    throw value.error(.invalidValue, "the bootstrap token expired at \(text); mint a new join file with 'seed join-file'")
                }
                expires = date
            }
        }
        guard let token else { throw ConfigError(.missingField, file: field.file, field: "bootstrap.token", line: field.line, "required") }
        guard let expires else { throw ConfigError(.missingField, file: field.file, field: "bootstrap.expires", line: field.line, "required") }
        return (token, expires)
    }

    static func parseCluster(_ field: YAMLField, into join: inout JoinFile, now: Date) throws {
        var sawCA = false, sawEndpoints = false, sawVersion = false
        for (key, value) in try field.mapping(allowedKeys: ["name", "kubernetesVersion", "apiServerEndpoints", "caCertificate",
                                                            "serviceCIDR", "podCIDR", "clusterDNS", "clusterDomain"]) {
            switch key {
            case "name":
                join.clusterName = try value.dnsLabel()
            case "kubernetesVersion":
                join.kubernetesVersion = try value.kubernetesVersion()
                sawVersion = true
            case "apiServerEndpoints":
                let endpoints = try value.stringList()
                guard !endpoints.isEmpty else { throw value.error(.invalidValue, "at least one https://HOST:PORT endpoint is required") }
                for (index, endpoint) in endpoints.enumerated() {
                    guard APIEndpoint.parse(endpoint) != nil else {
                        throw ConfigError(.invalidValue, file: value.file, field: "\(value.path)[\(index)]", line: value.line,
                                          "'\(endpoint)' is not an https://HOST:PORT URL (HOST an IP address, IPv6 in brackets, or a DNS name)")
                    }
                }
                join.apiServerEndpoints = endpoints
                sawEndpoints = true
            case "caCertificate":
                join.caCertificatePEM = try validateCA(value, now: now)
                sawCA = true
            case "serviceCIDR": join.serviceCIDR = try value.cidr()
            case "podCIDR": join.podCIDR = try value.cidr()
            case "clusterDNS": join.clusterDNS = try value.ipAddress()
            default: join.clusterDomain = try value.dnsDomain() // clusterDomain
            }
        }
        if !sawVersion { throw ConfigError(.missingField, file: field.file, field: "cluster.kubernetesVersion", line: field.line, "required, like v1.31.2") }
        if !sawEndpoints { throw ConfigError(.missingField, file: field.file, field: "cluster.apiServerEndpoints", line: field.line, "required") }
        if !sawCA { throw ConfigError(.missingField, file: field.file, field: "cluster.caCertificate", line: field.line, "required: the cluster CA certificate (PEM)") }
        try ClusterRanges.check(serviceCIDR: join.serviceCIDR, podCIDR: join.podCIDR, clusterDNS: join.clusterDNS, file: field.file, line: field.line)
    }

    /// The PEM must hold exactly one certificate that is a currently valid CA.
    static func validateCA(_ value: YAMLField, now: Date) throws -> String {
        let pem = try value.string()
        let blocks = pem.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
        guard blocks == 1 else {
            throw value.error(.invalidValue, blocks == 0 ? "no PEM certificate (-----BEGIN CERTIFICATE-----)" : "holds \(blocks) certificates; give only the cluster CA")
        }
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: pem)
        } catch {
            throw value.error(.invalidValue, "not a valid PEM certificate (\(error))")
        }
        let constraints = try? certificate.extensions.basicConstraints
        guard case .isCertificateAuthority = constraints else {
            throw value.error(.invalidValue, "the certificate '\(certificate.subject)' is not a CA (basicConstraints CA:TRUE missing)")
        }
        guard certificate.notValidBefore <= now, now < certificate.notValidAfter else {
            throw value.error(.invalidValue, "the CA certificate is not valid now (valid \(certificate.notValidBefore) to \(certificate.notValidAfter))")
        }
        return pem.hasSuffix("\n") ? pem : pem + "\n"
    }

    static func parseNode(_ field: YAMLField, into join: inout JoinFile) throws {
        for (key, value) in try field.mapping(allowedKeys: ["name", "ip", "roles", "labels"]) {
            switch key {
            case "name": join.nodeName = try value.nodeName()
            case "ip": join.nodeIP = try value.ipAddress()
            case "roles":
                let roles = try value.stringList()
                for (index, role) in roles.enumerated() where !Validate.isDNSLabel(role) {
                    throw ConfigError(.invalidValue, file: value.file, field: "\(value.path)[\(index)]", line: value.line, "'\(role)' is not a role name")
                }
                join.roles = roles
            default: // labels
                for (labelKey, labelValue) in try value.mapping() {
                    let text = try labelValue.scalarText()
                    guard Validate.isLabelKey(labelKey) else { throw labelValue.error(.invalidValue, "'\(labelKey)' is not a Kubernetes label key") }
                    guard Validate.isKubeletSettableLabel(labelKey) else {
                        throw labelValue.error(.invalidValue, "kubelet may not set '\(labelKey)' on its own node (NodeRestriction); set it from the control plane")
                    }
                    guard Validate.isLabelValue(text) else { throw labelValue.error(.invalidValue, "'\(text)' is not a Kubernetes label value") }
                    join.labels[labelKey] = text
                }
            }
        }
    }

    static func parseControlPlane(_ field: YAMLField, into join: inout JoinFile) throws {
        var sealed: (String, Int?)?
        var expires: Date?
        for (key, value) in try field.mapping(allowedKeys: ["secrets", "expires"]) {
            if key == "secrets" {
                let text = try value.string()
                guard let bytes = Data(base64Encoded: text), bytes.count > 28 else {
                    throw value.error(.invalidValue, "not the base64 of sealed secrets ('seed join-file --role control-plane' writes it)")
                }
                sealed = (text, value.line)
            } else {
                let text = try value.scalarText()
                guard let date = Timestamp.date(text) else { throw value.error(.invalidValue, "'\(text)' is not an RFC 3339 time like 2026-12-01T00:00:00Z") }
                expires = date
            }
        }
        guard let sealed else { throw ConfigError(.missingField, file: field.file, field: "controlPlane.secrets", line: field.line, "required") }
        guard let expires else { throw ConfigError(.missingField, file: field.file, field: "controlPlane.expires", line: field.line, "required") }
        guard join.roles.contains(ControlPlaneSecrets.role) else {
            throw ConfigError(.invalidValue, file: field.file, field: "node.roles", line: field.line, "a join file with a controlPlane section is for a master: its roles must include control-plane")
        }
        guard join.nodeIP != nil, join.nodeName != nil else {
            throw ConfigError(.missingField, file: field.file, field: join.nodeName == nil ? "node.name" : "node.ip", line: field.line,
                              "a control-plane join file names its master and the IP etcd and the API server listen on")
        }
        join.controlPlane = ControlPlaneSecrets(sealed: sealed.0, expires: expires, line: sealed.1)
    }

    static func parseContainerd(_ field: YAMLField, into join: inout JoinFile) throws {
        for (key, value) in try field.mapping(allowedKeys: ["root", "state", "sandboxImage", "registryMirrors"]) {
            switch key {
            case "root", "state":
                let path = try value.string()
                if let problem = Validate.dataDirectoryProblem(path, runtimeState: key == "state") { throw value.error(.invalidValue, problem) }
                if key == "root" { join.containerd.root = path } else { join.containerd.state = path }
            case "sandboxImage":
                join.containerd.sandboxImage = try value.imageReference(like: "registry.k8s.io/pause:3.9")
            default: // registryMirrors
                for (registry, endpoints) in try value.mapping() {
                    guard Validate.isRegistryHost(registry) else { throw endpoints.error(.invalidValue, "'\(registry)' is not a registry host like docker.io") }
                    let urls = try endpoints.stringList()
                    for (index, endpoint) in urls.enumerated() {
                        guard let url = URLComponents(string: endpoint), url.scheme == "https" || url.scheme == "http", url.host?.isEmpty == false,
                              !endpoint.contains("\"") else {
                            throw ConfigError(.invalidValue, file: endpoints.file, field: "\(endpoints.path)[\(index)]", line: endpoints.line,
                                              "'\(endpoint)' is not an http(s) URL")
                        }
                    }
                    join.containerd.registryMirrors[registry] = urls
                }
            }
        }
    }

    static func parseKubelet(_ field: YAMLField, into join: inout JoinFile) throws {
        for (key, value) in try field.mapping(allowedKeys: ["maxPods", "podPidsLimit", "rootDir"]) {
            switch key {
            case "maxPods", "podPidsLimit":
                let text = try value.scalarText()
                guard let number = Validate.decimalInteger(text), key == "maxPods" ? (1...2000).contains(number) : number >= -1 else {
                    throw value.error(.invalidValue, "\(Validate.shown(text)) is not a valid \(key): " + (key == "maxPods" ? "a whole number from 1 to 2000" : "-1 (no limit) or a whole number"))
                }
                if key == "maxPods" { join.kubelet.maxPods = number } else { join.kubelet.podPidsLimit = number }
            default:
                let path = try value.string()
                if let problem = Validate.dataDirectoryProblem(path) { throw value.error(.invalidValue, problem) }
                join.kubelet.rootDir = path
            }
        }
    }

    /// A lowercase DNS name usable as a Kubernetes node name.
    public static func isValidNodeName(_ name: String) -> Bool {
        Validate.isDNSDomain(name)
    }
}
