import Foundation
import KubeSeedCore
import KubeSeedPKI
import X509

/// The cluster PKI on disk (`/etc/kubernetes/cert`): creates what is missing, reuses what is there
/// and still right, and refuses — never silently regenerates — a certificate that no longer matches.
public struct PKIStore {
    public let root: HostRoot
    public var directory = NodePaths.certDir
    /// Certificates closer than this to expiry are reported, not renewed.
    public var renewWarning: TimeInterval = 30 * 86400

    public init(root: HostRoot = HostRoot()) { self.root = root }

    public struct Entry: Sendable, Equatable {
        public enum Outcome: String, Sendable { case created, reused }
        public var name: String
        public var outcome: Outcome
        public var notAfter: Date?
    }

    func certPath(_ name: String) -> String { "\(directory)/\(name).pem" }
    func keyPath(_ name: String) -> String { "\(directory)/\(name)-key.pem" }

    /// Makes sure both CAs, every certificate of `ClusterPKI.etcdSpecs` (signed by the etcd CA) and
    /// `ClusterPKI.specs` (signed by the cluster CA), and the service-account key pair exist.
    /// Everything is made in memory first; then exactly the files about to be written are journaled
    /// (with what was there and the SHA-256 of what goes there) and written in one batch. A failure
    /// on the way journals and writes nothing.
    ///
    /// A PKI made before the etcd CA existed (`legacyEtcdLayout`) is moved to it here: the etcd CA is
    /// made (or, after a move cut short, reused) and etcd's certificates the cluster CA signed are issued
    /// again from it. Only a single-member etcd may be moved this way; the caller checks that first.
    /// - Parameter prefetched: keys made ahead (`missingKeyCount`'s worth), used before any new one is made.
    public func ensure(_ parameters: PKIParameters, algorithm: KeyAlgorithm, journal: ChangeJournal, now: Date = Date(),
                       prefetched: PrefetchedKeys? = nil) throws -> [Entry] {
        if !root.isDirectory(directory) { throw HostError(.file, "\(directory) does not exist", cause: "run 'seed-agent apply' first") }
        // One batch with one flush (was one fsync per file: 41 of the 55 ms of a P-256 set on this machine).
        var pending: [(path: String, data: Data, mode: UInt16)] = []
        var entries: [Entry] = []
        // Every key a missing pair needs, made at once on every core (or ahead); a pair issued again (the
        // move to the etcd CA) makes its own.
        let absent = try missingKeyCount(parameters)
        // Keys that could not be made ahead are made here.
        var keys = prefetched.map { $0.algorithm == algorithm ? (try? $0.take()) ?? [] : [] } ?? []
        keys = Array(keys.prefix(absent))
        if keys.count < absent { keys += try PrivateKey.generate(algorithm, count: absent - keys.count) }
        let (ca, caEntry) = try loadOrCreateCA(ClusterPKI.caName, commonName: ClusterPKI.caCommonName, algorithm, now: now, keys: &keys, pending: &pending)
        let (etcdCA, etcdCAEntry) = try loadOrCreateCA(ClusterPKI.etcdCAName, commonName: ClusterPKI.etcdCACommonName, algorithm, now: now, keys: &keys, pending: &pending)
        entries += [caEntry, etcdCAEntry]
        for spec in ClusterPKI.etcdSpecs(parameters) {
            entries.append(try loadOrIssue(spec, ca: etcdCA, caName: "the etcd CA", algorithm: algorithm, now: now,
                                           reissueIfSignedBy: ca.certificate, keys: &keys, pending: &pending))
        }
        for spec in ClusterPKI.specs(parameters) {
            entries.append(try loadOrIssue(spec, ca: ca, caName: "this cluster's CA", algorithm: algorithm, now: now, keys: &keys, pending: &pending))
        }
        entries.append(try loadOrCreateServiceAccountKey(algorithm, keys: &keys, pending: &pending))
        guard !pending.isEmpty else { return entries }
        try journal.record(try pending.flatMap { try journal.writeRecords($0.path, sha256: ChangeJournal.sha256($0.data)) })
        try root.writeAtomically(pending)
        return entries
    }

    /// How many keys `ensure` makes here now: one for each pair of which neither file exists, and one
    /// for a missing service-account key.
    public func missingKeyCount(_ parameters: PKIParameters) throws -> Int {
        let names = [ClusterPKI.caName, ClusterPKI.etcdCAName] + ClusterPKI.leafSpecs(parameters).map(\.name)
        return try names.filter { try root.readText(certPath($0)) == nil && root.readText(keyPath($0)) == nil }.count
            + (try root.readText(serviceAccountKeyFile) == nil ? 1 : 0)
    }

    /// Whether this PKI is one made before etcd had a CA of its own, or one whose move to it was cut
    /// short (the etcd CA written, a certificate not yet): one of etcd's certificates is signed by the
    /// cluster CA (so etcd trusts, or is to trust, every certificate the cluster CA signs).
    public func legacyEtcdLayout() throws -> Bool {
        guard let caText = try root.readText(certPath(ClusterPKI.caName)), let ca = try? Certificate(pemEncoded: caText) else { return false }
        return try ["etcd-server", "etcd-peer", "apiserver-etcd-client"].contains { name in
            try root.readText(certPath(name)).flatMap { try? Certificate(pemEncoded: $0) }?.isSigned(by: ca) ?? false
        }
    }

    private func loadOrCreateCA(_ name: String, commonName: String, _ algorithm: KeyAlgorithm, now: Date, keys: inout [PrivateKey],
                                pending: inout [(path: String, data: Data, mode: UInt16)]) throws -> (Issuer, Entry) {
        switch (try root.readText(certPath(name)), try root.readText(keyPath(name))) {
        case (let cert?, let key?):
            let certificate = try parseCertificate(cert, name)
            let privateKey = try parseKey(key, name)
            guard privateKey.matches(certificate) else {
                throw HostError(.file, "\(keyPath(name)) does not belong to \(certPath(name))", cause: "restore the matching pair; KubeSeed never replaces a CA")
            }
            return (Issuer(certificate: certificate, key: privateKey), Entry(name: name, outcome: .reused, notAfter: certificate.notValidAfter))
        case (nil, nil):
            let ca = try Issuer.makeCA(algorithm, commonName: commonName, key: keys.popLast(), now: now)
            add(name, certificate: ca.certificate.pem, key: ca.key.pem, to: &pending)
            return (ca, Entry(name: name, outcome: .created, notAfter: ca.certificate.notValidAfter))
        default:
            throw HostError(.file, "only one of \(certPath(name)) and \(keyPath(name)) exists", cause: "restore the missing file; KubeSeed never replaces half a CA")
        }
    }

    /// - Parameter reissueIfSignedBy: a certificate this CA signed is issued again from `ca` (the move to the etcd CA).
    private func loadOrIssue(_ spec: CertificateSpec, ca: Issuer, caName: String, algorithm: KeyAlgorithm, now: Date, reissueIfSignedBy old: Certificate? = nil,
                             keys: inout [PrivateKey], pending: inout [(path: String, data: Data, mode: UInt16)]) throws -> Entry {
        let name = spec.name
        switch (try root.readText(certPath(name)), try root.readText(keyPath(name))) {
        case (let cert?, _?) where old.map { (try? Certificate(pemEncoded: cert))?.isSigned(by: $0) ?? false } ?? false:
            let (certificate, key) = try ca.issue(spec, algorithm, now: now)
            add(name, certificate: certificate.pem, key: key.pem, to: &pending)
            return Entry(name: name, outcome: .created, notAfter: certificate.notValidAfter)
        case (let cert?, let key?):
            let certificate = try parseCertificate(cert, name)
            let privateKey = try parseKey(key, name)
            var problems: [String] = []
            if !privateKey.matches(certificate) { problems.append("the key does not match the certificate") }
            if !certificate.isSigned(by: ca.certificate) { problems.append("it is not signed by \(caName)") }
            // IPs compare as bytes: 2001:db8::a and 2001:db8:0:0::a are one address, however the certificate spells it.
            let presentIPs = certificate.subjectAlternativeIPAddresses
            let missing = Set(spec.dnsNames).subtracting(certificate.subjectAlternativeDNSNames)
                .union(spec.ipAddresses.filter { ip in !presentIPs.contains { $0 == IPAddress.bytes(ip) } })
            if !missing.isEmpty { problems.append("it lacks the names \(missing.sorted().joined(separator: ", "))") }
            if !certificate.subject.description.contains("CN=\(spec.commonName)") { problems.append("its subject is \(certificate.subject)") }
            if certificate.notValidAfter <= now { problems.append("it expired on \(certificate.notValidAfter)") }
            guard problems.isEmpty else {
                throw HostError(.file, "\(certPath(name)) cannot be reused: \(problems.joined(separator: "; "))",
                                cause: "move \(certPath(name)) and \(keyPath(name)) away to have them issued again")
            }
            return Entry(name: name, outcome: .reused, notAfter: certificate.notValidAfter)
        case (nil, nil):
            let (certificate, key) = try ca.issue(spec, algorithm, key: keys.popLast(), now: now)
            add(name, certificate: certificate.pem, key: key.pem, to: &pending)
            return Entry(name: name, outcome: .created, notAfter: certificate.notValidAfter)
        default:
            throw HostError(.file, "only one of \(certPath(name)) and \(keyPath(name)) exists", cause: "move the other away to have the pair issued again")
        }
    }

    var serviceAccountKeyFile: String { "\(directory)/\(ClusterPKI.serviceAccountKeyName).key" }
    var serviceAccountPublicFile: String { "\(directory)/\(ClusterPKI.serviceAccountKeyName).pub" }

    private func loadOrCreateServiceAccountKey(_ algorithm: KeyAlgorithm, keys: inout [PrivateKey], pending: inout [(path: String, data: Data, mode: UInt16)]) throws -> Entry {
        let keyFile = serviceAccountKeyFile, publicFile = serviceAccountPublicFile
        if let key = try root.readText(keyFile) {
            let privateKey = try parseKey(key, "sa")
            guard try root.readText(publicFile) == privateKey.publicKeyPEM else {
                throw HostError(.file, "\(publicFile) is missing or does not match \(keyFile)", cause: "restore it; tokens signed with this key must keep verifying")
            }
            return Entry(name: "sa (service-account keys)", outcome: .reused, notAfter: nil)
        }
        let key = try keys.popLast() ?? PrivateKey.generate(algorithm)
        // Journaled up front by `ensure`.
        pending += [(keyFile, Data(key.pem.utf8), 0o600), (publicFile, Data(key.publicKeyPEM.utf8), 0o644)]
        return Entry(name: "sa (service-account keys)", outcome: .created, notAfter: nil)
    }

    /// Queues a new pair for `ensure`'s batch (journaled before it).
    private func add(_ name: String, certificate: String, key: String, to pending: inout [(path: String, data: Data, mode: UInt16)]) {
        pending += [(keyPath(name), Data(key.utf8), 0o600), (certPath(name), Data(certificate.utf8), 0o644)]
    }

    func parseCertificate(_ pem: String, _ name: String) throws -> Certificate {
        do { return try Certificate(pemEncoded: pem) } catch {
            throw HostError(.file, "\(certPath(name)) is not a PEM certificate", cause: "\(error)")
        }
    }

    func parseKey(_ pem: String, _ name: String) throws -> PrivateKey {
        do { return try PrivateKey(pem: pem) } catch {
            throw HostError(.file, "the key for \(name) is not a PEM private key", cause: "\(error)")
        }
    }

    /// One certificate `seed certs` lists: a file in the directory, or one a kubeconfig carries.
    public struct Listed: Sendable {
        /// The file's name in the directory, or `PATH (user NAME)` for a kubeconfig's.
        public var source: String
        public var subject: String
        public var names: [String]
        public var notAfter: Date?
        /// Expired, within the window, or unreadable; `nil` when none of these.
        public var problem: String?
    }

    /// Every certificate in the directory and in `kubeconfigs` (those that exist), for `seed certs`;
    /// one ending within `window` of `now` carries a problem.
    public func list(kubeconfigs: [String] = [], window: TimeInterval? = nil, now: Date = Date()) -> [Listed] {
        let window = window ?? renewWarning
        func listed(_ source: String, _ pem: String?, rotatedByKubelet: Bool = false) -> Listed {
            guard let block = pem.flatMap({ PEMBlock.first("CERTIFICATE", in: $0) }), let certificate = try? Certificate(pemEncoded: block) else {
                return Listed(source: source, subject: "", names: [], notAfter: nil, problem: "not a PEM certificate")
            }
            let left = certificate.notValidAfter.timeIntervalSince(now)
            let life = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
            let problem: String?
            if rotatedByKubelet {
                // The kubelet asks for its next certificate at 70 to 90 % of the last one's life: past 95 % it failed to.
                problem = left <= 0 ? "EXPIRED: the kubelet did not rotate it (journalctl -u kubelet)"
                    : life > 0 && left < life * 0.05 ? "past 95 % of its life: the kubelet should have rotated it (journalctl -u kubelet; pending CSRs: kubectl get csr)" : nil
            } else {
                problem = left <= 0 ? "EXPIRED" : left < window ? "expires within \(Int(window / 86400)) days" : nil
            }
            return Listed(source: source, subject: certificate.subject.description, names: certificate.subjectAlternativeNameStrings,
                          notAfter: certificate.notValidAfter, problem: problem)
        }
        // The kubelet's own files: only the ones in use (`-current.pem`), not those it rotated away from.
        let files = root.list(directory).filter { $0.hasSuffix(".pem") && !$0.hasSuffix("-key.pem") }
            .filter { KubeletCredential.rotatedFileInUse($0) ?? true }.sorted().map { file in
                listed(file, (try? root.readText("\(directory)/\(file)")) ?? nil, rotatedByKubelet: KubeletCredential.rotatedFileInUse(file) != nil)
            }
        let embedded = kubeconfigs.flatMap { path -> [Listed] in
            guard let text = (try? root.readText(path)) ?? nil else { return [] }
            guard let users = KubeconfigCredential.certificates(in: text) else { return [listed(path, nil)] }
            return users.map { listed("\(path) (user \($0.user))", $0.pem) }
        }
        return files + embedded
    }
}
