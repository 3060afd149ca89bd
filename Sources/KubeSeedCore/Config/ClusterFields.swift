/// The validators of the cluster fields the cluster configuration and the join file share: each value
/// is checked here once, with one message naming the field and line, whichever file it came from.
extension YAMLField {
    /// The field's string when `isValid` says so; else an error naming the field and line, with `message`.
    private func checked(_ isValid: (String) -> Bool, _ message: (String) -> String) throws -> String {
        let text = try string()
        guard isValid(text) else { throw error(.invalidValue, message(text)) }
        return text
    }

    /// A DNS label (the cluster's name).
    func dnsLabel() throws -> String {
        try checked({ Validate.isDNSLabel($0) }) { "'\($0)' is not a DNS label (lowercase letters, digits, '-')" }
    }

    /// A Kubernetes version KubeSeed supports.
    func kubernetesVersion() throws -> String {
        try checked({ Validate.isSupportedKubernetesVersion($0) }) { "\(Validate.shown($0)) is not a supported Kubernetes version (\(KubernetesVersion.supportedRule))" }
    }

    /// A CIDR with its host bits zero.
    func cidr() throws -> String {
        try checked({ IPAddress.cidr($0) != nil }) { "'\($0)' is not a CIDR like 10.254.0.0/16 (host bits zero)" }
    }

    /// An IPv4 or IPv6 address.
    func ipAddress() throws -> String {
        try checked({ IPAddress.isValid($0) }) { "'\($0)' is not an IP address" }
    }

    /// A DNS domain (the cluster domain).
    func dnsDomain() throws -> String {
        try checked({ Validate.isDNSDomain($0) }) { "'\($0)' is not a DNS domain like cluster.local" }
    }

    /// A node name (a lowercase DNS name).
    func nodeName() throws -> String {
        try checked({ JoinFile.isValidNodeName($0) }) { "'\($0)' is not a node name (lowercase DNS name)" }
    }

    /// An image reference; `example` shows the form in the message.
    func imageReference(like example: String) throws -> String {
        try checked({ Validate.isImageReference($0) }) { "\(Validate.shown($0)) is not an image reference like \(example)" }
    }
}

/// Checks of the cluster's address ranges that need several fields, for both files.
enum ClusterRanges {
    /// Pods and services in separate ranges, the cluster DNS address inside the service range. `file`
    /// and `line` (of the `cluster` section) name the source in the error.
    static func check(serviceCIDR: String, podCIDR: String, clusterDNS: String, file: String, line: Int?) throws {
        if IPAddress.overlaps(serviceCIDR, podCIDR) {
            throw ConfigError(.invalidValue, file: file, field: "cluster.podCIDR", line: line,
                              "\(podCIDR) overlaps serviceCIDR \(serviceCIDR); pods and services need separate ranges")
        }
        guard IPAddress.contains(cidr: serviceCIDR, ip: clusterDNS) else {
            throw ConfigError(.invalidValue, file: file, field: "cluster.clusterDNS", line: line, "\(clusterDNS) is outside serviceCIDR \(serviceCIDR)")
        }
    }
}
