import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct InstallBinaries: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-binaries",
        abstract: "Install kubelet and kube-proxy into /opt/k8s/bin from a Kubernetes node or server archive.",
        discussion: """
            Takes kubernetes/node/bin/ or kubernetes/server/bin/ members from ARCHIVE \
            (kubernetes-node-linux-amd64.tar.gz or kubernetes-server-linux-amd64.tar.gz), checks the archive's \
            SHA-256 when given, checks each binary is an ELF executable, and moves them into place atomically. \
            A running agent notices and starts the units. 'seed-agent reset' removes what this installed.
            """)
    @Argument(help: "The .tar.gz archive.") var archive: String
    @Option(help: "Expected SHA-256 of the archive (hex), as published with the release.") var sha256: String?
    @Flag(help: "Replace binaries already in /opt/k8s/bin that differ.") var replace = false
    @Option(help: "The Kubernetes release the binaries must be (default: the join file's kubernetesVersion, when there is one).")
    var kubernetesVersion: String?

    func run() throws {
        let root = HostRoot()
        guard CurrentProcess.effectiveUID == 0 else {
            say("seed-agent install-binaries: must run as root\n")
            throw ExitCode(1)
        }
        var version: KubernetesVersion?
        if let kubernetesVersion {
            guard let given = KubernetesVersion(kubernetesVersion), given.isSupported else {
                say("seed-agent install-binaries: --kubernetes-version: \(Validate.shown(kubernetesVersion)) is not \(KubernetesVersion.supportedRule); nothing installed\n")
                throw ExitCode(2)
            }
            version = given
        } else if root.exists(JoinFile.defaultPath) {
            do { version = try AgentOperations.loadJoinFile(root: root, path: JoinFile.defaultPath, effectiveUID: CurrentProcess.effectiveUID).version } catch {
                say("seed-agent install-binaries: \(JoinFile.defaultPath) does not read, so the binaries' version cannot be checked against it: \(error); nothing installed (fix it, or pass --kubernetes-version)\n")
                throw ExitCode(2)
            }
        }
        let path = absolutePath(archive)
        do {
            let installed = try HostSession.with(root, effects: .filesOnly) { session in
                try BinaryInstaller(root: root).install(archive: path, sha256: sha256, replace: replace, journal: session.journal, version: version)
            }
            for binary in installed {
                say("  \(binary.changed ? "installed" : "unchanged")  \(binary.path) (\(binary.bytes) bytes\(binary.recorded ? "; as installed from this archive, not read again" : ""))\n")
            }
            say("seed-agent install-binaries: \(installed.filter(\.changed).count) installed from \(path)"
                + (version.map { " (Kubernetes \($0), as --version says)" } ?? " (version not checked: no join file and no --kubernetes-version)") + "\n")
        } catch {
            say("seed-agent install-binaries: nothing installed: \(error)\n")
            throw ExitCode(1)
        }
    }
}
