import Foundation

/// Whether a host can become a master of the cluster a control-plane join file names: it must be fresh,
/// or the same master of the same cluster (a second run); never another cluster's master, another CA,
/// or an encryption key Secrets were already written with.
public enum JoinHostFit {
    /// What the host holds already.
    public struct Found: Sendable {
        /// The configuration an earlier `seed init` or `seed join` recorded.
        public var recorded: ClusterConfig?
        /// The cluster CA certificate in the certificate directory.
        public var caPEM: String?
        /// The shared PKI files present in the certificate directory, by name.
        public var pkiFiles: [String: Data]
        /// The encryption config's text, when there is one.
        public var encryptionConfig: String?

        public init(recorded: ClusterConfig? = nil, caPEM: String? = nil, pkiFiles: [String: Data] = [:], encryptionConfig: String? = nil) {
            self.recorded = recorded
            self.caPEM = caPEM
            self.pkiFiles = pkiFiles
            self.encryptionConfig = encryptionConfig
        }
    }

    /// The first reason the host does not fit, as an error naming the join file's field; `nil` when it fits.
    /// - Parameters:
    ///   - config: the cluster record sealed in the join file, with this master's name and IP.
    ///   - caPEM: the join file's CA certificate.
    ///   - shared: the opened secrets, by file name (`pkiFiles` and `encryptionKeyFile` among them).
    public static func problem(_ found: Found, config: ClusterConfig, caPEM: String, shared: [String: Data], pkiFiles: [String],
                               encryptionKeyFile: String, file: String, certDirectory: String = NodePaths.certDir) -> ConfigError? {
        if let recorded = found.recorded,
           recorded.name != config.name || recorded.masterIP.map({ !IPAddress.same($0, config.masterIP ?? "") }) ?? true || recorded.masterName != config.masterName {
            return ConfigError(.invalidValue, file: file, field: "node",
                               "this host is already master \(recorded.masterName ?? "-") (\(recorded.masterIP ?? "-")) of cluster \(recorded.name); run 'seed-agent reset' first to start over")
        }
        if let ca = found.caPEM, ca != caPEM {
            return ConfigError(.invalidValue, file: file, field: "cluster.caCertificate",
                               "\(certDirectory)/ca.pem on this host is another CA; this host belongs to another cluster (run 'seed-agent reset' first)")
        }
        for name in pkiFiles {
            if let present = found.pkiFiles[name], present != shared[name] {
                return ConfigError(.invalidValue, file: file, field: "controlPlane.secrets",
                                   "\(certDirectory)/\(name) on this host differs from the cluster's; move it away if this host holds no other cluster")
            }
        }
        if let text = found.encryptionConfig, ControlPlane.encryptionKey(in: text).map({ Data($0) }) != shared[encryptionKeyFile] {
            return ConfigError(.invalidValue, file: file, field: "controlPlane.secrets",
                               "\(ControlPlane.encryptionConfigPath) on this host holds another key than the cluster's; Secrets written with it would become unreadable — move it away only if this host holds no data")
        }
        return nil
    }
}
