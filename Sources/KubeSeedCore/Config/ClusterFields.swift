/// The validators of the cluster fields the cluster configuration and the join file share: each value
/// is checked here once, with one message naming the field and line, whichever file it came from.
extension YAMLField {
    /// A DNS label (the cluster's name).
    func dnsLabel() throws -> String {
        let text = try string()
        guard Validate.isDNSLabel(text) else { throw error(.invalidValue, "'\(text)' is not a DNS label (lowercase letters, digits, '-')") }
        return text
    }

    /// A Kubernetes version KubeSeed supports.
    func kubernetesVersion() throws -> String {
        let text = try string()
        guard Validate.isSupportedKubernetesVersion(text) else {
            throw error(.invalidValue, "\(Validate.shown(text)) is not a supported Kubernetes version (\(KubernetesVersion.supportedRule))")
        }
        return text
    }

    /// A CIDR with its host bits zero.
    func cidr() throws -> String {
        let text = try string()
        guard IPAddress.cidr(text) != nil else { throw error(.invalidValue, "'\(text)' is not a CIDR like 10.254.0.0/16 (host bits zero)") }
        return text
    }

    /// An IPv4 or IPv6 address.
    func ipAddress() throws -> String {
        let text = try string()
        guard IPAddress.isValid(text) else { throw error(.invalidValue, "'\(text)' is not an IP address") }
        return text
    }

    /// A DNS domain (the cluster domain).
    func dnsDomain() throws -> String {
        let text = try string()
        guard Validate.isDNSDomain(text) else { throw error(.invalidValue, "'\(text)' is not a DNS domain like cluster.local") }
        return text
    }

    /// A node name (a lowercase DNS name).
    func nodeName() throws -> String {
        let text = try string()
        guard JoinFile.isValidNodeName(text) else { throw error(.invalidValue, "'\(text)' is not a node name (lowercase DNS name)") }
        return text
    }

    /// An image reference; `example` shows the form in the message.
    func imageReference(like example: String) throws -> String {
        let text = try string()
        guard Validate.isImageReference(text) else { throw error(.invalidValue, "\(Validate.shown(text)) is not an image reference like \(example)") }
        return text
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
