import Foundation
import KubeSeedCore
import KubeSeedPKI
import X509

/// Renewing the cluster's leaf certificates in place (`seed certs renew`): the same CA and key
/// algorithm, the subject and names the cluster asks for now, a new key, one journaled batch.
extension PKIStore {
    /// One renewed certificate.
    public struct Renewal: Sendable, Equatable {
        public var name: String
        public var previousNotAfter: Date
        public var notAfter: Date
    }

    /// The leaves whose certificate ends within `window` of `now` (or has ended). A missing or unreadable
    /// one is an error: `seed init` makes it, renewal does not.
    public func due(_ parameters: PKIParameters, window: TimeInterval, now: Date = Date()) throws -> [String] {
        try ClusterPKI.leafNames.filter { name in
            try readCertificate(name).notValidAfter.timeIntervalSince(now) < window
        }
    }

    /// Issues `names` again from the CA that signed each, each with a new key of its old key's
    /// algorithm, and writes them in one journaled batch. Refuses, changing nothing, a name that is not a
    /// leaf KubeSeed made (the CAs are never renewed here), a pair whose key does not match, and a
    /// certificate its CA did not sign.
    public func renew(_ names: [String], _ parameters: PKIParameters, journal: ChangeJournal, now: Date = Date()) throws -> [Renewal] {
        let specs = Dictionary(uniqueKeysWithValues: ClusterPKI.leafSpecs(parameters).map { ($0.name, $0) })
        let etcdNames = Set(ClusterPKI.etcdSpecs(parameters).map(\.name))
        if let refusal = names.lazy.compactMap(ClusterPKI.renewalRefusal).first { throw HostError(.file, refusal) }
        var issuers: [String: Issuer] = [:]
        func issuer(_ name: String) throws -> Issuer {
            if let known = issuers[name] { return known }
            let made = Issuer(certificate: try readCertificate(name), key: try readKey(name))
            issuers[name] = made
            return made
        }
        var checked: [(name: String, ca: Issuer, current: Certificate, algorithm: KeyAlgorithm)] = []
        var seen = Set<String>()
        for name in names where seen.insert(name).inserted {
            let ca = try issuer(etcdNames.contains(name) ? ClusterPKI.etcdCAName : ClusterPKI.caName)
            let current = try readCertificate(name)
            let key = try readKey(name)
            guard key.matches(current) else {
                throw HostError(.file, "\(keyPath(name)) does not belong to \(certPath(name))", cause: "restore the matching pair before renewing it")
            }
            guard current.isSigned(by: ca.certificate) else {
                throw HostError(.file, "\(certPath(name)) is not signed by \(etcdNames.contains(name) ? "the etcd CA" : "this cluster's CA")",
                                cause: "run 'seed init' to put the cluster's own certificate back first")
            }
            checked.append((name, ca, current, key.algorithm))
        }
        // Every new key at once on every core, per algorithm.
        var keys: [KeyAlgorithm: [PrivateKey]] = [:]
        for algorithm in Set(checked.map(\.algorithm)) {
            keys[algorithm] = try PrivateKey.generate(algorithm, count: checked.filter { $0.algorithm == algorithm }.count)
        }
        var pending: [(path: String, data: Data, mode: UInt16)] = []
        var renewals: [Renewal] = []
        for (name, ca, current, algorithm) in checked {
            let (certificate, newKey) = try ca.issue(specs[name]!, algorithm, key: keys[algorithm]?.popLast(), now: now)
            pending += [(keyPath(name), Data(newKey.pem.utf8), 0o600), (certPath(name), Data(certificate.pem.utf8), 0o644)]
            renewals.append(Renewal(name: name, previousNotAfter: current.notValidAfter, notAfter: certificate.notValidAfter))
        }
        guard !pending.isEmpty else { return [] }
        try journal.record(try pending.flatMap { try journal.writeRecords($0.path, sha256: ChangeJournal.sha256($0.data)) })
        try root.writeAtomically(pending)
        return renewals
    }

    func readCertificate(_ name: String) throws -> Certificate {
        guard let text = try root.readText(certPath(name)) else {
            throw HostError(.file, "\(certPath(name)) is missing", cause: "'seed init' makes it; renewal only replaces what is there")
        }
        return try parseCertificate(text, name)
    }

    func readKey(_ name: String) throws -> PrivateKey {
        guard let text = try root.readText(keyPath(name)) else {
            throw HostError(.file, "\(keyPath(name)) is missing", cause: "restore it; a certificate without its key cannot be renewed")
        }
        return try parseKey(text, name)
    }
}
