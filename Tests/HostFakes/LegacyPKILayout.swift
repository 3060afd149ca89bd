import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

extension TemporaryHost {
    /// The layout of a PKI made before the etcd CA, made with the store itself: the etcd CA files are
    /// the cluster CA's while etcd's certificates are issued, then removed.
    public func makeLegacyEtcdLayout(_ store: PKIStore, _ parameters: PKIParameters) throws {
        let dir = "/etc/kubernetes/cert"
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: root))
        for name in ["etcd-server", "etcd-peer", "apiserver-etcd-client"] { try root.remove("\(dir)/\(name).pem"); try root.remove("\(dir)/\(name)-key.pem") }
        guard let ca = try root.read("\(dir)/ca.pem"), let caKey = try root.read("\(dir)/ca-key.pem") else {
            throw HostError(.file, "the store made no cluster CA in \(dir)")
        }
        try root.writeAtomically([("\(dir)/etcd-ca.pem", ca, 0o644), ("\(dir)/etcd-ca-key.pem", caKey, 0o600)])
        _ = try store.ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: root))
        try root.remove("\(dir)/etcd-ca.pem")
        try root.remove("\(dir)/etcd-ca-key.pem")
    }
}
