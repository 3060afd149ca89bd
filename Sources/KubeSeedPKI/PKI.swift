import _CryptoExtras
import Crypto
import Foundation
import KubeSeedCore
import SwiftASN1
import X509

/// A private key of either algorithm, with what signing and serializing need.
public struct PrivateKey: @unchecked Sendable {
    enum Backing {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }
    let backing: Backing

    public static func generate(_ algorithm: KeyAlgorithm) throws -> PrivateKey {
        switch algorithm {
        case .rsa2048: return PrivateKey(backing: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)))
        case .ecdsaP256: return PrivateKey(backing: .p256(P256.Signing.PrivateKey()))
        }
    }

    /// `count` new keys, made on every core at once (an RSA-2048 key is most of a certificate's cost).
    public static func generate(_ algorithm: KeyAlgorithm, count: Int) throws -> [PrivateKey] {
        guard count > 1 else { return try (0..<count).map { _ in try generate(algorithm) } }
        let slots = Slots(count)
        DispatchQueue.concurrentPerform(iterations: count) { index in slots.set(index, Result { try generate(algorithm) }) }
        return try slots.values.map { try $0!.get() }
    }

    /// The results of `generate(_:count:)`, each slot written by one iteration only.
    private final class Slots: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var values: [Result<PrivateKey, any Error>?]
        init(_ count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: Result<PrivateKey, any Error>) { lock.withLock { values[index] = value } }
    }

    /// Reads a PEM key (PKCS#1 / PKCS#8 RSA, PKCS#8 / SEC1 EC).
    public init(pem: String) throws {
        if let rsa = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) {
            backing = .rsa(rsa)
        } else {
            backing = .p256(try P256.Signing.PrivateKey(pemRepresentation: pem))
        }
    }

    init(backing: Backing) { self.backing = backing }

    public var pem: String {
        switch backing {
        case .rsa(let key): return key.pemRepresentation
        case .p256(let key): return key.pemRepresentation
        }
    }

    public var publicKeyPEM: String {
        switch backing {
        case .rsa(let key): return key.publicKey.pemRepresentation
        case .p256(let key): return key.publicKey.pemRepresentation
        }
    }

    /// Whether `certificate` carries this key's public half.
    public func matches(_ certificate: Certificate) -> Bool {
        certificateKey.publicKey == certificate.publicKey
    }

    var certificateKey: Certificate.PrivateKey {
        switch backing {
        case .rsa(let key): return Certificate.PrivateKey(key)
        case .p256(let key): return Certificate.PrivateKey(key)
        }
    }

    var signatureAlgorithm: Certificate.SignatureAlgorithm {
        switch backing {
        case .rsa: return .sha256WithRSAEncryption
        case .p256: return .ecdsaWithSHA256
        }
    }
}

/// What one certificate of the cluster must say.
public struct CertificateSpec: Sendable, Equatable {
    public enum Usage: Sendable, Equatable { case ca, server, client, serverAndClient }
    /// File base name under the cert directory: `<name>.pem`, `<name>-key.pem`.
    public var name: String
    public var commonName: String
    public var organization: String?
    public var dnsNames: [String] = []
    public var ipAddresses: [String] = []
    public var usage: Usage

    public init(name: String, commonName: String, organization: String?, dnsNames: [String] = [], ipAddresses: [String] = [], usage: Usage) {
        self.name = name
        self.commonName = commonName
        self.organization = organization
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.usage = usage
    }
}

/// The cluster facts the PKI depends on.
public struct PKIParameters: Sendable, Equatable {
    public var masterIPs: [String]
    public var etcdIPs: [String]
    public var serviceCIDR: String
    public var clusterDomain: String
    /// Extra DNS names for the API server certificate.
    public var extraAPIServerNames: [String] = []
    /// Extra IP addresses for the API server certificate (a load balancer, a NAT address).
    public var extraAPIServerIPs: [String] = []

    public init(masterIPs: [String], etcdIPs: [String], serviceCIDR: String, clusterDomain: String) {
        self.masterIPs = masterIPs
        self.etcdIPs = etcdIPs
        self.serviceCIDR = serviceCIDR
        self.clusterDomain = clusterDomain
    }

    /// The first address of the service CIDR: the `kubernetes` Service's cluster IP.
    public var firstServiceIP: String? {
        guard var (address, _) = IPAddress.cidr(serviceCIDR) else { return nil }
        address[address.count - 1] |= 1
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}

/// The certificate set of the guide (chapter 02 and per-component chapters), corrected: separate
/// apiserver→etcd and apiserver→kubelet client certificates, a dedicated service-account key pair.
///
/// etcd has a CA of its own, as kubeadm's: etcd trusts only it, for clients and peers, and it signs only
/// etcd's server and peer certificates and the API server's etcd client certificate. The cluster CA signs
/// every kubelet's client certificate (TLS bootstrap, auto-approved for any token holder), so a cluster
/// CA etcd trusted would let any node read and write `/registry`.
public enum ClusterPKI {
    public static let caName = "ca"
    public static let etcdCAName = "etcd-ca"
    public static let serviceAccountKeyName = "sa"
    /// The subject names of the two CAs.
    public static let caCommonName = "kubernetes-ca"
    public static let etcdCACommonName = "etcd-ca"

    /// The certificates the etcd CA signs.
    public static func etcdSpecs(_ p: PKIParameters) -> [CertificateSpec] {
        [
            CertificateSpec(name: "etcd-server", commonName: "etcd", organization: "kubeseed", dnsNames: ["localhost"],
                            ipAddresses: ["127.0.0.1"] + p.etcdIPs, usage: .serverAndClient),
            CertificateSpec(name: "etcd-peer", commonName: "etcd-peer", organization: "kubeseed", dnsNames: ["localhost"],
                            ipAddresses: ["127.0.0.1"] + p.etcdIPs, usage: .serverAndClient),
            CertificateSpec(name: "apiserver-etcd-client", commonName: "kube-apiserver-etcd-client", organization: "system:masters", usage: .client),
        ]
    }

    /// The certificates the cluster CA signs.
    public static func specs(_ p: PKIParameters) -> [CertificateSpec] {
        let apiServerNames = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster",
                              "kubernetes.default.svc.\(p.clusterDomain)"] + p.extraAPIServerNames
        return [
            CertificateSpec(name: "kube-apiserver", commonName: "kube-apiserver", organization: "kubeseed", dnsNames: apiServerNames,
                            ipAddresses: ["127.0.0.1"] + p.masterIPs + p.extraAPIServerIPs + [p.firstServiceIP].compactMap { $0 }, usage: .server),
            // Not system:masters: its rights on kubelets come from the kubeseed:apiserver-kubelet-client binding.
            CertificateSpec(name: "apiserver-kubelet-client", commonName: "kube-apiserver-kubelet-client", organization: nil, usage: .client),
            CertificateSpec(name: "kube-controller-manager", commonName: "system:kube-controller-manager", organization: "system:kube-controller-manager",
                            ipAddresses: ["127.0.0.1"] + p.masterIPs, usage: .serverAndClient),
            CertificateSpec(name: "kube-scheduler", commonName: "system:kube-scheduler", organization: "system:kube-scheduler",
                            ipAddresses: ["127.0.0.1"] + p.masterIPs, usage: .serverAndClient),
            CertificateSpec(name: "admin", commonName: "admin", organization: "system:masters", usage: .client),
            CertificateSpec(name: "kube-proxy", commonName: "system:kube-proxy", organization: "system:node-proxier", usage: .client),
            CertificateSpec(name: "front-proxy-client", commonName: "aggregator", organization: nil, usage: .client),
        ]
    }
}

/// Issues certificates. Pure apart from randomness and the clock it is given.
public struct Issuer {
    public let certificate: Certificate
    public let key: PrivateKey

    public init(certificate: Certificate, key: PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A self-signed CA (`kubernetes-ca` unless named), valid `years` from `now` (backdated an hour for clock skew).
    /// - Parameter key: the CA's key, made beforehand (`PrivateKey.generate(_:count:)`); a new one when `nil`.
    public static func makeCA(_ algorithm: KeyAlgorithm, commonName: String = ClusterPKI.caCommonName, key: PrivateKey? = nil, now: Date = Date(), years: Int = 10) throws -> Issuer {
        let key = try key ?? PrivateKey.generate(algorithm)
        let name = try DistinguishedName {
            CommonName(commonName)
            OrganizationName("kubeseed")
        }
        let publicKey = key.certificateKey.publicKey
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: publicKey)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(Double(years) * 365.25 * 86400),
            issuer: name, subject: name, signatureAlgorithm: key.signatureAlgorithm, extensions: extensions,
            issuerPrivateKey: key.certificateKey)
        return Issuer(certificate: certificate, key: key)
    }

    /// A leaf for `spec`, with its own new key (`key`, made beforehand, or made here), signed by this CA.
    public func issue(_ spec: CertificateSpec, _ algorithm: KeyAlgorithm, key: PrivateKey? = nil, now: Date = Date(), years: Int = 5) throws -> (Certificate, PrivateKey) {
        let key = try key ?? PrivateKey.generate(algorithm)
        let subject = try DistinguishedName {
            if let organization = spec.organization { OrganizationName(organization) }
            CommonName(spec.commonName)
        }
        let publicKey = key.certificateKey.publicKey
        let caKeyID = try? certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        var sans: [GeneralName] = spec.dnsNames.map { .dnsName($0) }
        for ip in spec.ipAddresses {
            guard let bytes = IPAddress.v4(ip) ?? IPAddress.v6(ip) else { throw PKIError("\(spec.name): '\(ip)' is not an IP address") }
            sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let usages: [ExtendedKeyUsage.Usage]
        switch spec.usage {
        case .server: usages = [.serverAuth]
        case .client: usages = [.clientAuth]
        case .serverAndClient, .ca: usages = [.serverAuth, .clientAuth]
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage(usages)
            SubjectKeyIdentifier(hash: publicKey)
            if let caKeyID { AuthorityKeyIdentifier(keyIdentifier: caKeyID) }
            if !sans.isEmpty { SubjectAlternativeNames(sans) }
        }
        let notAfter = min(now.addingTimeInterval(Double(years) * 365.25 * 86400), certificate.notValidAfter)
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: notAfter,
            issuer: certificate.subject, subject: subject, signatureAlgorithm: self.key.signatureAlgorithm,
            extensions: extensions, issuerPrivateKey: self.key.certificateKey)
        return (leaf, key)
    }
}

public struct PKIError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Certificate {
    /// Whether `issuer` signed this certificate (its name and its signature).
    public func isSigned(by issuer: Certificate) -> Bool {
        self.issuer == issuer.subject && issuer.publicKey.isValidSignature(signature, for: self)
    }

    public var pem: String { (try? serializeAsPEM().pemString).map { $0 + "\n" } ?? "" }

    /// The DNS names of the subjectAltName extension.
    public var subjectAlternativeDNSNames: [String] {
        guard let sans = try? extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { if case .dnsName(let dns) = $0 { return dns } else { return nil } }
    }

    /// The IP addresses of the subjectAltName extension, as bytes (4 or 16).
    public var subjectAlternativeIPAddresses: [[UInt8]] {
        guard let sans = try? extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { if case .ipAddress(let octets) = $0 { return Array(octets.bytes) } else { return nil } }
    }

    /// DNS names and IP addresses of the subjectAltName extension, as text (for display).
    public var subjectAlternativeNameStrings: [String] {
        guard let sans = try? extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { name in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let octets):
                let bytes = Array(octets.bytes)
                if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
                return stride(from: 0, to: bytes.count, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
            default: return nil
            }
        }
    }
}

extension ClusterPKI {
    /// The names of `leafSpecs`, which do not depend on the parameters.
    public static let leafNames = ["etcd-server", "etcd-peer", "apiserver-etcd-client", "kube-apiserver", "apiserver-kubelet-client",
                                   "kube-controller-manager", "kube-scheduler", "admin", "kube-proxy", "front-proxy-client"]

    /// Why `seed certs renew` does not renew `name` (a CA, or not a leaf KubeSeed made); `nil` for a leaf.
    public static func renewalRefusal(_ name: String) -> String? {
        if leafNames.contains(name) { return nil }
        if [caName, etcdCAName].contains(name) {
            return "\(name) is a CA: 'seed certs renew' never replaces one (every certificate it signed would stop verifying; the README's 'Rotating a CA' has the steps by hand)"
        }
        return "\(Validate.shown(name)) is not a certificate KubeSeed renews; the names are: \(leafNames.joined(separator: ", "))"
    }

    /// Every certificate the two CAs sign, etcd's first.
    public static func leafSpecs(_ p: PKIParameters) -> [CertificateSpec] { etcdSpecs(p) + specs(p) }

    /// The units that read `name`'s files themselves (a kubeconfig that embeds it restarts its own unit
    /// when it is written again), in the order they restart: etcd, then the API server, then the rest.
    public static func readers(of name: String) -> [String] {
        switch name {
        case "etcd-server", "etcd-peer": return ["etcd.service"]
        case "kube-apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "front-proxy-client": return ["kube-apiserver.service"]
        case "kube-controller-manager": return ["kube-controller-manager.service"]
        case "kube-scheduler": return ["kube-scheduler.service"]
        // The approver opens its API connection with the admin pair.
        case "admin": return ["kubeseed-csr-approver.service"]
        default: return []
        }
    }

    /// The units to restart after `renewed`, each once, in restart order.
    public static func readers(ofAll renewed: [String]) -> [String] {
        let wanted = Set(renewed.flatMap(readers(of:)))
        return ["etcd.service", "kube-apiserver.service", "kube-controller-manager.service", "kube-scheduler.service", "kubeseed-csr-approver.service"]
            .filter(wanted.contains)
    }
}

extension PrivateKey {
    /// The key's algorithm (a renewal keeps it).
    public var algorithm: KeyAlgorithm {
        switch backing {
        case .rsa: return .rsa2048
        case .p256: return .ecdsaP256
        }
    }
}
