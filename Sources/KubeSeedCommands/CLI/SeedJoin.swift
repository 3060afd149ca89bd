import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

struct Join: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make this machine another master of a cluster, from a control-plane join file.",
        discussion: """
            On an existing master: 'seed join-file NODE --ip IP --role control-plane' writes the file and shows a \
            one-time certificate key. Here, 'seed join FILE' reads the key (standard input, or --certificate-key-file), \
            opens the sealed secrets (the CA key, the service-account key pair, the encryption key, the cluster's \
            configuration), checks this host and the etcd cluster, and only then changes anything: node \
            preparation, the shared keys, this master's own certificates (its IP in the etcd and API server names), \
            etcd joined as a learner through a peer and promoted once caught up, the control plane, and the \
            master's node part with the API balancer over every master. Bad input (a wrong key, a changed or \
            expired file, an IP already a member, no etcd member answering): exit 2, nothing changed here or in \
            etcd. A second run changes nothing.
            """)
    @Argument(help: "The control-plane join file.") var file: String
    @Option(help: "A file holding the certificate key (64 hex digits); default: read it from standard input.")
    var certificateKeyFile: String?
    @Option(help: "kubernetes-server-linux-amd64.tar.gz to take the control-plane and node binaries from (the cluster's release).")
    var serverArchive: String?
    @Option(help: "Expected SHA-256 of the server archive (hex).") var sha256: String?
    @Flag(help: "Replace binaries in /opt/k8s/bin that differ from the archive's.") var replaceBinaries = false
    @Option(help: "Seconds to wait for the API server to become ready.") var apiTimeout = 180

    func run() async throws {
        if let serverArchive, !HostRoot().exists(absolutePath(serverArchive)) {
            CurrentProcess.writeError("seed join: nothing changed: \(ConfigError(.unreadable, file: serverArchive, "no such server archive"))\n")
            throw ExitCode(2)
        }
        let key: String
        if let certificateKeyFile {
            do { key = try readSecretFile(certificateKeyFile) } catch {
                CurrentProcess.writeError("seed join: nothing changed: \(ConfigError(.unreadable, file: certificateKeyFile, "cannot read the certificate key file: \(error)"))\n")
                throw ExitCode(2)
            }
        } else {
            guard let line = readSecretLine(prompt: "certificate key (not shown): ") else {
                CurrentProcess.writeError("seed join: nothing changed: the certificate key on standard input is unreadable or longer than \(secretInputLimit) bytes\n")
                throw ExitCode(2)
            }
            key = line
        }
        var operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
        operations.apiServerTimeout = .seconds(apiTimeout)
        let code = await operations.joinControlPlane(joinPath: absolutePath(file), keyText: key, serverArchive: serverArchive.map(absolutePath),
                                                     sha256: sha256?.lowercased(), replaceBinaries: replaceBinaries)
        if code != 0 { throw ExitCode(code) }
    }
}
