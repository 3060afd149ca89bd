import Foundation
import X509

/// A CertificateSigningRequest as the approver reads it from the API (certificates.k8s.io/v1).
public struct CSRFacts: Sendable, Equatable {
    public var name: String
    public var resourceVersion: String
    public var signerName: String
    public var username: String
    public var groups: [String]
    public var usages: [String]
    /// `spec.request`: the PEM of the PKCS#10 request (base64-decoded from the JSON).
    public var request: [UInt8]
    /// An Approved, Denied or Failed condition is already there.
    public var decided: Bool

    public init(name: String, resourceVersion: String = "", signerName: String, username: String, groups: [String],
                usages: [String], request: [UInt8], decided: Bool = false) {
        self.name = name
        self.resourceVersion = resourceVersion
        self.signerName = signerName
        self.username = username
        self.groups = groups
        self.usages = usages
        self.request = request
        self.decided = decided
    }

    /// Reads the fields the approver judges from a CSR object; `nil` when it is not one.
    public init?(json object: [String: Any]) {
        guard let metadata = object["metadata"] as? [String: Any], let name = metadata["name"] as? String,
              let spec = object["spec"] as? [String: Any] else { return nil }
        self.name = name
        resourceVersion = metadata["resourceVersion"] as? String ?? ""
        signerName = spec["signerName"] as? String ?? ""
        username = spec["username"] as? String ?? ""
        groups = spec["groups"] as? [String] ?? []
        usages = spec["usages"] as? [String] ?? []
        request = (spec["request"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init) ?? []
        let conditions = (object["status"] as? [String: Any])?["conditions"] as? [[String: Any]] ?? []
        decided = conditions.contains { ["Approved", "Denied", "Failed"].contains($0["type"] as? String ?? "") }
    }
}

/// One entry of a Node's `status.addresses`.
public struct NodeAddress: Sendable, Equatable {
    public var type: String
    public var address: String
    public init(_ type: String, _ address: String) {
        self.type = type
        self.address = address
    }

    /// The addresses of a Node object.
    public static func of(node object: [String: Any]) -> [NodeAddress] {
        let addresses = (object["status"] as? [String: Any])?["addresses"] as? [[String: Any]] ?? []
        return addresses.compactMap { entry in
            guard let type = entry["type"] as? String, let address = entry["address"] as? String else { return nil }
            return NodeAddress(type, address)
        }
    }
}

/// Judges kubelet-serving CSRs: approve only when every check holds, deny with the reason otherwise.
/// Pure: the approver fetches the CSR and its Node and acts on the verdict.
public enum KubeletServingReview {
    public static let signer = "kubernetes.io/kubelet-serving"
    public static let nodePrefix = "system:node:"
    /// The usages a kubelet asks for: ECDSA keys without key encipherment, RSA keys with it.
    static let servingUsages: [Set<String>] = [["digital signature", "server auth"], ["digital signature", "key encipherment", "server auth"]]

    public enum Verdict: Sendable, Equatable {
        /// Another signer's, or already approved or denied: not the approver's to touch.
        case notOurs
        case approve(String)
        case deny(String)
        /// Not this master's to judge: no join file for the node was minted here (another master may
        /// have minted it, and its approver judges). Left pending; never approved.
        case leave(String)
    }

    /// The node a CSR claims to be from (`system:node:NAME`, NAME a node name: it goes into API paths),
    /// when it is a kubelet-serving CSR still pending.
    public static func nodeName(_ csr: CSRFacts) -> String? {
        guard csr.signerName == signer, !csr.decided, csr.username.hasPrefix(nodePrefix) else { return nil }
        let name = String(csr.username.dropFirst(nodePrefix.count))
        return JoinFile.isValidNodeName(name) ? name : nil
    }

    /// The verdict on `csr`, given its Node's `status.addresses` as the API server has them.
    public static func review(_ csr: CSRFacts, nodeAddresses: [NodeAddress], book: AddressBook) -> Verdict {
        guard csr.signerName == signer, !csr.decided else { return .notOurs }
        guard let node = nodeName(csr) else { return .deny("requester '\(csr.username)' is not a node (system:node:NAME)") }
        guard csr.groups.contains("system:nodes") else { return .deny("requester \(csr.username) is not in the group system:nodes") }
        guard !book.conflicts.contains(node) else { return .deny("join files here name node \(node) with different IPs: its IP cannot be checked") }
        guard book.roles[node] != nil || book.masters[node] != nil else {
            return .leave("no join file was minted on this master for node \(node): left for the master that minted it")
        }
        guard servingUsages.contains(Set(csr.usages)), Set(csr.usages).count == csr.usages.count else {
            return .deny("usages \(csr.usages) are not exactly the serving ones (digital signature, [key encipherment,] server auth)")
        }
        let der: [UInt8]
        do {
            der = try CanonicalPEM.der(csr.request, type: "CERTIFICATE REQUEST")
        } catch {
            return .deny("the request is not exactly one canonical PEM block: \(error)")
        }
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(derEncoded: der)
        } catch {
            return .deny("the request is not a PKCS#10 certificate request")
        }
        let commonNames = request.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map { String($0.value) ?? "" }
        let organizations = request.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.organizationName }.map { String($0.value) ?? "" }
        guard commonNames == [csr.username] else { return .deny("the subject's CN is not \(csr.username)") }
        guard organizations == ["system:nodes"] else { return .deny("the subject's organization is not exactly system:nodes") }
        guard request.subject.count == 2, request.subject.allSatisfy({ $0.count == 1 }) else { return .deny("the subject names more than CN and O") }
        let names: [GeneralName]
        do {
            let requests = request.attributes.filter { $0.oid == .CSRAttributes.extensionRequest }
            guard requests.count <= 1 else { return .deny("the request asks for extensions twice") }
            let extensions = try request.attributes.extensionRequest?.extensions
            if let other = extensions?.first(where: { $0.oid != .X509ExtensionID.subjectAlternativeName }) {
                return .deny("the request asks for an extension other than subject alternative names (\(other.oid))")
            }
            names = try extensions?.subjectAlternativeNames.map { Array($0) } ?? []
        } catch {
            return .deny("the requested extensions do not parse")
        }
        guard !names.isEmpty else { return .deny("the request names no DNS name or IP address") }
        let ownDNS = Set(nodeAddresses.filter { ["Hostname", "InternalDNS", "ExternalDNS"].contains($0.type) }.map { $0.address.lowercased() })
        let ownIPs = nodeAddresses.filter { ["InternalIP", "ExternalIP"].contains($0.type) }.compactMap { IPAddress.bytes($0.address) }
        for name in names {
            switch name {
            case .dnsName(let dns):
                // The serving certificate is signed by the cluster CA: any other name (the API server's, a
                // master's, a wildcard) would let this node pose as it to everyone who trusts that CA.
                guard dns.lowercased() == node else { return .deny("DNS name \(dns) is not the node's own name \(node)") }
                guard ownDNS.contains(dns.lowercased()) else { return .deny("DNS name \(dns) is not one of node \(node)'s addresses") }
            case .ipAddress(let octets):
                let bytes = IPAddress.unmapped(Array(octets.bytes))
                let ip = Self.text(bytes)
                guard ownIPs.map(IPAddress.unmapped).contains(bytes) else { return .deny("IP \(ip) is not one of node \(node)'s addresses") }
                guard !IPAddress.contains(cidr: book.serviceCIDR, ip: ip) else { return .deny("IP \(ip) is in the service range \(book.serviceCIDR)") }
                if let master = book.masters.first(where: { $0.key != node && IPAddress.bytes($0.value).map(IPAddress.unmapped) == bytes }) {
                    return .deny("IP \(ip) is master \(master.key)'s")
                }
                if let other = book.nodes.first(where: { $0.key != node && IPAddress.bytes($0.value).map(IPAddress.unmapped) == bytes }) {
                    return .deny("IP \(ip) is node \(other.key)'s")
                }
                guard let minted = book.nodes[node] ?? book.masters[node] else {
                    return .deny("no join file was minted here for node \(node): its IP cannot be checked")
                }
                guard IPAddress.bytes(minted).map(IPAddress.unmapped) == bytes else { return .deny("IP \(ip) is not \(minted), the IP node \(node) was joined with") }
            default:
                return .deny("the request names something other than DNS names and IP addresses (\(name))")
            }
        }
        return .approve("node \(node): CN, organization and usages are a kubelet's; every name is the node's own")
    }

    static func text(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return bytes.map { String($0, radix: 16) }.joined(separator: ":") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}
