import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// `seed`: the first master's tool.
public struct SeedCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Turn this machine into the first Kubernetes master and mint join files for nodes.",
        subcommands: [Init.self, Join.self, JoinFileCommand.self, Token.self, Certs.self, PKI.self, Etcd.self, Node.self, Upgrade.self, CSRApproverCommand.self])

    public init() {}
}

/// The options `seed init` and its single phases (`seed pki`, `seed etcd`) share: the cluster
/// configuration file and the flags that override it.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Cluster configuration file (ClusterConfiguration YAML; default \(ClusterConfig.defaultPath) if it exists, else what this master was set up with).") var config: String?
    @Option(help: "This master's node name (default: the host name).") var name: String?
    @Option(name: .customLong("master-ip"), help: "This master's IP (default: the address on the default-route interface).") var masterIP: String?
    @Option(help: "rsa (RSA-2048, default) or ecdsa (P-256).") var keyAlgorithm: String?
    @Option(help: "Kubernetes version the binaries are (v1.20.0 or later).") var kubernetesVersion: String?
    @Option(help: ArgumentHelp("Treat this directory as / (configuration, journal, lock and certificates under it); for images and benchmarks.",
                               visibility: .hidden)) var root = "/"

    var source: String { config ?? ClusterConfig.defaultPath }

    /// The cluster configuration with the flags applied. Bad values: exit 2, nothing changed.
    func load(_ command: String, root: HostRoot) throws -> ClusterConfig {
        var cluster = ClusterConfig()
        do {
            if let text = try root.readText(source) {
                cluster = try ClusterConfig.parse(text, file: source)
            } else if config != nil {
                throw ConfigError(.unreadable, file: source, "no such file")
            } else if let recorded = try root.readText(ClusterConfig.recordPath) {
                // A later run on a master (one that joined with 'seed join' has no cluster.yaml) starts from what it was set up with.
                cluster = try ClusterConfig.parse(recorded, file: ClusterConfig.recordPath)
            }
            if let name {
                guard JoinFile.isValidNodeName(name) else { throw ConfigError(.invalidValue, file: "--name", "'\(name)' is not a node name (lowercase DNS name)") }
                cluster.masterName = name
            }
            if let masterIP {
                guard IPAddress.isValid(masterIP) else { throw ConfigError(.invalidValue, file: "--master-ip", "'\(masterIP)' is not an IP address") }
                cluster.masterIP = masterIP
            }
            if let keyAlgorithm {
                guard let parsed = KeyAlgorithm(rawValue: keyAlgorithm) else { throw ConfigError(.invalidValue, file: "--key-algorithm", "must be \(KeyAlgorithm.rule)") }
                cluster.keyAlgorithm = parsed
            }
            if let kubernetesVersion {
                guard Validate.isSupportedKubernetesVersion(kubernetesVersion) else {
                    throw ConfigError(.invalidValue, file: "--kubernetes-version", "\(Validate.shown(kubernetesVersion)) is not \(KubernetesVersion.supportedRule)")
                }
                cluster.kubernetesVersion = kubernetesVersion
            }
        } catch {
            CurrentProcess.writeError("\(command): nothing changed: \(error)\n")
            throw ExitCode(2)
        }
        return cluster
    }

    func operations(_ command: String) throws -> MasterOperations {
        try MasterOperations.live(command, root: root)
    }
}
