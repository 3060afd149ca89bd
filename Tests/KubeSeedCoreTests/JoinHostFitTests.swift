import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): which hosts may become a master of the joined cluster, as a table.
@Suite struct JoinHostFitTests {
    static let key = [UInt8](repeating: 7, count: 32)
    static let shared: [String: Data] = ["ca-key.pem": Data("cluster ca key".utf8), "encryption-key": Data(key)]

    static func config(name: String = "test", master: String = "master-2", ip: String = "192.0.2.11") -> ClusterConfig {
        var config = ClusterConfig()
        config.name = name
        config.masterName = master
        config.masterIP = ip
        return config
    }

    // (situation, what the host holds, the field refused or "" when it fits)
    static let cases: [(String, JoinHostFit.Found, String)] = [
        ("a fresh host", .init(), ""),
        ("the same master, a second run", .init(recorded: config(), caPEM: "CA", pkiFiles: shared.filter { $0.key == "ca-key.pem" },
                                                 encryptionConfig: ControlPlane.encryptionConfig(key: key)), ""),
        ("another cluster's master", .init(recorded: config(name: "other")), "node"),
        ("another master of this cluster", .init(recorded: config(master: "master-3", ip: "192.0.2.12")), "node"),
        ("another CA", .init(caPEM: "OTHER CA"), "cluster.caCertificate"),
        ("another CA key", .init(pkiFiles: ["ca-key.pem": Data("other".utf8)]), "controlPlane.secrets"),
        ("another encryption key", .init(encryptionConfig: ControlPlane.encryptionConfig(key: [UInt8](repeating: 9, count: 32))), "controlPlane.secrets"),
        ("an encryption config without a key", .init(encryptionConfig: "kind: EncryptionConfiguration\n"), "controlPlane.secrets"),
    ]

    @Test(arguments: cases)
    func fit(_ situation: String, found: JoinHostFit.Found, refusedField: String) {
        let problem = JoinHostFit.problem(found, config: Self.config(), caPEM: "CA", shared: Self.shared, pkiFiles: ["ca-key.pem"],
                                          encryptionKeyFile: "encryption-key", file: "master-2.yaml")
        #expect(problem?.field ?? "" == refusedField, "\(situation): \(problem.map(String.init(describing:)) ?? "fits")")
    }
}
