import ArgumentParser
import KubeSeedCore
import KubeSeedHost

struct Upgrade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Upgrades: what runs and what the skew policy allows.", subcommands: [Plan.self, Apply.self])

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every API server's release and each node's kubelet and kube-proxy, and check a target against the skew policy.",
            discussion: """
                The skew policy: API servers move one minor at a time and never back; kubelets and kube-proxy are never \\
                newer than an API server and at most two minors older (three from 1.28); so masters first, then nodes. \\
                Exit 1 when something is in the way of --to (each named) or the API does not answer.
                """)
        @Option(help: "The release to check (vMAJOR.MINOR.PATCH).") var to: String?

        func run() async throws {
            var target: KubernetesVersion?
            if let to {
                guard let parsed = KubernetesVersion(to) else { say("seed upgrade plan: --to \(Validate.shown(to)) is not vMAJOR.MINOR.PATCH\n"); throw ExitCode(2) }
                target = parsed
            }
            let code = try await MasterOperations.live("seed upgrade plan").upgradePlan(to: target)
            if code != 0 { throw ExitCode(code) }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move this master's control plane to the cluster configuration's kubernetesVersion from a server archive.",
            discussion: """
                Set kubernetesVersion in the cluster configuration (or pass --kubernetes-version) to the archive's release, \
                then run this on one master at a time. It refuses, with nothing changed, unless the skew policy allows the \
                release (one minor at a time, never back, no kubelet left too far behind), every API server is ready and \
                every etcd member healthy. Then it installs kube-apiserver, kube-controller-manager, kube-scheduler and \
                kubectl from the archive (each checked to be that release), restarts kube-apiserver and waits for /readyz \
                and etcd's health, then the controller manager and the scheduler, each only while it runs an older binary, \
                and records the release. A second run changes nothing. The same release again (a rebuilt archive) is a \
                re-install. Nodes follow once every master is done: 'seed-agent install-binaries --replace ARCHIVE'.
                """)
        @Option(help: "kubernetes-server-linux-amd64.tar.gz of the release.") var serverArchive: String
        @Option(help: "Expected SHA-256 of the archive (hex), as published with the release.") var sha256: String?
        @Option(help: "Seconds to wait for the restarted API server to become ready.") var apiTimeout = 300
        @OptionGroup var options: ClusterOptions

        func run() async throws {
            try requireOption(apiTimeout, in: MasterOperations.apiTimeoutRange, "--api-timeout", "seed upgrade apply")
            let root = HostRoot(path: options.root)
            var cluster = try options.load("seed upgrade apply", root: root)
            let path = absolutePath(serverArchive)
            // The path reaches every phase's message: none carries a control character to a terminal or the journal.
            guard Validate.printable(path) == path else {
                say("seed upgrade apply: nothing changed: --server-archive is \(Validate.shown(path)); name a file without one\n")
                throw ExitCode(2)
            }
            // `identity` is there for regular files only (a directory, a pipe, a device, a missing path: nil).
            guard root.identity(path) != nil else {
                say("seed upgrade apply: nothing changed: \(ConfigError(.unreadable, file: "--server-archive", "\(path) is not a regular file (missing, a directory, a pipe or a device)"))\n")
                throw ExitCode(2)
            }
            if let sha256, sha256.count != 64 || !sha256.isASCIIHex {
                say("seed upgrade apply: nothing changed: --sha256 is not a SHA-256 in hex (64 characters)\n")
                throw ExitCode(2)
            }
            cluster.serverArchive = path
            // A sha256 in cluster.yaml is for its own serverArchive, not this one.
            cluster.serverArchiveSHA256 = sha256?.lowercased()
            var operations = try options.operations("seed upgrade apply")
            operations.apiServerTimeout = .seconds(apiTimeout)
            let code = await operations.upgradeApply(cluster, source: options.source)
            if code != 0 { throw ExitCode(code) }
        }
    }
}
