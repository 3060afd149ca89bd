import Foundation

/// The first master's cluster configuration (`/etc/kubeseed/cluster.yaml`), read by `seed init`.
/// Every key is optional; defaults are the guide's. `seed init` records the effective configuration
/// (master name and IP resolved) at `ClusterConfig.recordPath`, which `seed join-file` reads.
///
/// ```yaml
/// apiVersion: kubeseed.io/v1alpha1
/// kind: ClusterConfiguration
/// cluster:
///   name: kubernetes
///   kubernetesVersion: v1.31.2
///   serviceCIDR: 10.254.0.0/16
///   podCIDR: 172.30.0.0/16
///   clusterDNS: 10.254.0.2
///   clusterDomain: cluster.local
///   nodePortRange: 30000-32767
///   dnsImage: registry.k8s.io/coredns/coredns:v1.11.3   # CoreDNS, e.g. from a registry mirror
///   sandboxImage: registry.k8s.io/pause:3.9               # every node's containerd pause image (join files carry it)
///   kubeletCertificateDuration: 8760h  # what the controller manager signs kubelets' certificates for (10m to 87600h)
/// master:
///   name: master-1                 # default: the host name
///   ip: 192.0.2.10                 # default: the address on the default-route interface
///   extraSANs: [k8s.example.internal, 198.51.100.7]
/// pki:
///   keyAlgorithm: rsa              # or ecdsa (P-256)
/// binaries:
///   serverArchive: /root/kubernetes-server-linux-amd64.tar.gz
///   sha256: 0123…                  # optional, checked before anything is unpacked
/// host:                            # as in the agent config
///   timezone: Asia/Shanghai
/// timing:                          # for slow or far-apart masters (ControlPlaneTiming)
///   etcdHeartbeatInterval: 250
///   etcdElectionTimeout: 2000
///   leaderElection: {leaseDuration: 15, renewDeadline: 10, retryPeriod: 2}
/// ```
public struct ClusterConfig: Sendable, Equatable {
    public static let apiVersion = "kubeseed.io/v1alpha1"
    public static let kind = "ClusterConfiguration"
    public static let defaultPath = "/etc/kubeseed/cluster.yaml"
    /// Where `seed init` records the configuration it ran with.
    public static let recordPath = "/var/lib/kubeseed/cluster.yaml"

    public var name = "kubernetes"
    public var kubernetesVersion = "v1.31.2"
    public var serviceCIDR = "10.254.0.0/16"
    public var podCIDR = "172.30.0.0/16"
    public var clusterDNS = "10.254.0.2"
    public var clusterDomain = "cluster.local"
    public var nodePortRange = "30000-32767"
    /// The CoreDNS image `seed init` deploys.
    public var dnsImage = ClusterDNS.defaultImage
    /// The pause image every node's containerd uses; minted join files carry it when it is not the default.
    public var sandboxImage = ContainerdSettings.defaultSandboxImage
    /// How long the kubelets' client and serving certificates last (`--cluster-signing-duration`): `Nh` or
    /// `Nm`; each kubelet asks for a new one at 70 to 90 % of that.
    public var kubeletCertificateDuration = ClusterConfig.defaultKubeletCertificateDuration
    public static let defaultKubeletCertificateDuration = "8760h"
    /// `nil`: the host name.
    public var masterName: String?
    /// `nil`: the address on the default-route interface.
    public var masterIP: String?
    /// Extra DNS names and IP addresses for the API server certificate.
    public var extraSANs: [String] = []
    /// `rsa` or `ecdsa`.
    public var keyAlgorithm = KeyAlgorithm.rsa2048
    public var serverArchive: String?
    public var serverArchiveSHA256: String?
    public var host = NodePrepSettings()
    public var timing = ControlPlaneTiming()

    public init() {}

    /// The API server's URL for nodes; only once `masterIP` is known.
    public var apiServerEndpoint: String? {
        masterIP.map { IPAddress.httpsURL($0, port: 6443) }
    }
}

extension ClusterConfig {
    /// Parses and validates a cluster configuration; every problem is a `ConfigError` naming the field and line.
    public static func parse(_ text: String, file: String) throws -> ClusterConfig {
        var config = ClusterConfig()
        var clusterLine: Int?
        for (key, value) in try YAMLField.document(text, file: file, apiVersion: apiVersion, kind: kind,
                                                   sections: ["cluster", "master", "pki", "binaries", "host", "timing"]) {
            switch key {
            case "cluster":
                clusterLine = value.line
                try parseCluster(value, into: &config)
            case "master": try parseMaster(value, into: &config)
            case "pki":
                for (_, algorithm) in try value.mapping(allowedKeys: ["keyAlgorithm"]) {
                    let text = try algorithm.string()
                    guard let parsed = KeyAlgorithm(rawValue: text) else { throw algorithm.error(.invalidValue, "'\(text)' is not \(KeyAlgorithm.rule)") }
                    config.keyAlgorithm = parsed
                }
            case "binaries":
                for (name, field) in try value.mapping(allowedKeys: ["serverArchive", "sha256"]) {
                    let text = try field.string()
                    if name == "serverArchive" {
                        guard Validate.isCleanAbsolutePath(text) else { throw field.error(.invalidValue, "\(Validate.shown(text)) must be \(Validate.cleanPathRule)") }
                        config.serverArchive = text
                    } else {
                        guard text.count == 64, text.isASCIIHex else { throw field.error(.invalidValue, "not a SHA-256 in hex (64 characters)") }
                        config.serverArchiveSHA256 = text.lowercased()
                    }
                }
            case "timing":
                config.timing = try ControlPlaneTiming.parse(value)
            default: // host
                try HostSettingsParser.apply(value, to: &config.host)
            }
        }
        try config.validateTogether(file: file, line: clusterLine)
        return config
    }

    static func parseCluster(_ field: YAMLField, into config: inout ClusterConfig) throws {
        for (key, value) in try field.mapping(allowedKeys: ["name", "kubernetesVersion", "serviceCIDR", "podCIDR", "clusterDNS", "clusterDomain", "nodePortRange", "dnsImage", "sandboxImage",
                                                                "kubeletCertificateDuration"]) {
            switch key {
            case "name": config.name = try value.dnsLabel()
            case "kubernetesVersion": config.kubernetesVersion = try value.kubernetesVersion()
            case "serviceCIDR": config.serviceCIDR = try value.cidr()
            case "podCIDR": config.podCIDR = try value.cidr()
            case "clusterDNS": config.clusterDNS = try value.ipAddress()
            case "clusterDomain": config.clusterDomain = try value.dnsDomain()
            case "dnsImage": config.dnsImage = try value.imageReference(like: "registry.k8s.io/coredns/coredns:v1.11.3")
            case "sandboxImage": config.sandboxImage = try value.imageReference(like: "registry.k8s.io/pause:3.9")
            case "kubeletCertificateDuration":
                let text = try value.string()
                guard Validate.signingDurationMinutes(text) != nil else {
                    throw value.error(.invalidValue, "\(Validate.shown(text)) is not a duration from 10m to 87600h, like 8760h or 30m")
                }
                config.kubeletCertificateDuration = text
            default: // nodePortRange
                let text = try value.string()
                if let range = Validate.portRange(text), let port = Validate.reservedPort(in: range) {
                    throw value.error(.invalidValue, "\(Validate.shown(text)) would let NodePorts take port \(port) on every node; use a range above 1024 clear of 2379-2380, 6443 and 10249-10259, like 30000-32767")
                }
                guard Validate.portRange(text) != nil else {
                    throw value.error(.invalidValue, "'\(text)' is not a port range like 30000-32767")
                }
                config.nodePortRange = text
            }
        }
    }

    static func parseMaster(_ field: YAMLField, into config: inout ClusterConfig) throws {
        for (key, value) in try field.mapping(allowedKeys: ["name", "ip", "extraSANs"]) {
            switch key {
            case "name": config.masterName = try value.nodeName()
            case "ip": config.masterIP = try value.ipAddress()
            default: // extraSANs
                let names = try value.stringList()
                for (index, name) in names.enumerated() where !IPAddress.isValid(name) && !Validate.isDNSDomain(name) {
                    throw ConfigError(.invalidValue, file: value.file, field: "\(value.path)[\(index)]", line: value.line,
                                      "'\(name)' is neither a DNS name nor an IP address")
                }
                config.extraSANs = names
            }
        }
    }

    /// Checks that need several fields; `file` and `line` (of the `cluster` section) name the source in the error.
    public func validateTogether(file: String, line: Int? = nil) throws {
        try ClusterRanges.check(serviceCIDR: serviceCIDR, podCIDR: podCIDR, clusterDNS: clusterDNS, file: file, line: line)
    }

    /// The configuration as YAML this parser reads back (the record `seed init` leaves for `seed join-file`).
    public func render(header: String = "# Recorded by 'seed init': the configuration this master was set up with.\n") -> String {
        var master: [(String, YAMLDocument)] = []
        if let masterName { master.append(("name", .string(masterName))) }
        if let masterIP { master.append(("ip", .string(masterIP))) }
        if !extraSANs.isEmpty { master.append(("extraSANs", .list(extraSANs.map { .string($0) }))) }
        var pairs: [(String, YAMLDocument)] = [
            ("apiVersion", .string(Self.apiVersion)),
            ("kind", .string(Self.kind)),
            ("cluster", .map([
                ("name", .string(name)),
                ("kubernetesVersion", .string(kubernetesVersion)),
                ("serviceCIDR", .string(serviceCIDR)),
                ("podCIDR", .string(podCIDR)),
                ("clusterDNS", .string(clusterDNS)),
                ("clusterDomain", .string(clusterDomain)),
                ("nodePortRange", .string(nodePortRange)),
                ("dnsImage", .string(dnsImage)),
            ] + (sandboxImage == ContainerdSettings.defaultSandboxImage ? [] : [("sandboxImage", .string(sandboxImage))])
              + (kubeletCertificateDuration == Self.defaultKubeletCertificateDuration ? [] : [("kubeletCertificateDuration", .string(kubeletCertificateDuration))]))),
        ]
        if !master.isEmpty { pairs.append(("master", .map(master))) }
        pairs.append(("pki", .map([("keyAlgorithm", .string(keyAlgorithm.rawValue))])))
        // What later runs and join files need of the host settings: where the data lives, the time zone.
        var hostPairs: [(String, YAMLDocument)] = [("dataDir", .string(host.dataDir))]
        if let timezone = host.timezone { hostPairs.append(("timezone", .string(timezone))) }
        pairs.append(("host", .map(hostPairs)))
        if !timing.rendered.isEmpty { pairs.append(("timing", .map(timing.rendered))) }
        return YAMLDocument.render(header: header, pairs)
    }

    /// `kubernetesVersion`, parsed (it was validated when read).
    public var version: KubernetesVersion { KubernetesVersion(kubernetesVersion) ?? .newestTabled }

    /// What the control-plane renderers need.
    public func controlPlaneCluster(masterIP: String) -> ControlPlane.Cluster {
        var cluster = ControlPlane.Cluster(masterIP: masterIP, etcdEndpoints: [IPAddress.httpsURL(masterIP, port: 2379)])
        cluster.name = name
        cluster.serviceCIDR = serviceCIDR
        cluster.podCIDR = podCIDR
        cluster.clusterDomain = clusterDomain
        cluster.nodePortRange = nodePortRange
        cluster.kubeletCertificateDuration = kubeletCertificateDuration
        cluster.dataDir = host.kubernetesDataDir
        cluster.version = version
        cluster.timing = timing
        return cluster
    }
}

extension ClusterConfig {
    /// The first field a master cannot change in place once it was set up with `before` (the recorded
    /// configuration), with its recorded and its new value; `nil` when none changed. A name left unset
    /// keeps the recorded one; the same IP written another way is no change.
    public func fixedFieldChange(from before: ClusterConfig) -> (field: String, old: String, new: String)? {
        let fixed: [(String, String, String)] = [
            ("cluster.name", before.name, name), ("cluster.serviceCIDR", before.serviceCIDR, serviceCIDR),
            ("cluster.podCIDR", before.podCIDR, podCIDR), ("cluster.clusterDomain", before.clusterDomain, clusterDomain),
            ("cluster.clusterDNS", before.clusterDNS, clusterDNS), ("master.ip", before.masterIP ?? "", masterIP ?? ""),
            ("master.name", before.masterName ?? "", masterName ?? before.masterName ?? ""),
            ("host.dataDir", before.host.dataDir, host.dataDir),
        ]
        return fixed.first { field, old, new in old != new && !(field == "master.ip" && IPAddress.same(old, new)) }
    }
}
