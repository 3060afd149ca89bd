import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set up this machine as the first master: node preparation, PKI, etcd, control plane, TLS bootstrap.",
        discussion: """
            Reads the cluster configuration (default /etc/kubeseed/cluster.yaml if it exists; the flags override it) \
            and then, each step printed with its state and time: prepares the node as seed-agent does, creates \
            or reuses the PKI, runs etcd with mutual TLS and waits until it answers healthy, installs the \
            control-plane binaries from a server archive when one is given, writes the kubeconfigs, encryption \
            config, audit policy and the kube-apiserver, kube-controller-manager and kube-scheduler units, starts \
            them when their binaries are in /opt/k8s/bin, and once the API server is ready creates the RBAC \
            bindings for TLS bootstrapping and the Secrets of tokens minted earlier. A re-run changes nothing \
            that is already right. Bad configuration: exit 2, nothing changed. Without binaries: exit 0 with \
            everything else in place and a message saying what to add. 'seed init phase NAME…' runs single phases; \
            --skip-phases leaves some out.
            """,
        subcommands: [Phase.self])
    @OptionGroup var options: ClusterOptions
    @Option(help: "kubernetes-server-linux-amd64.tar.gz to take kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from.")
    var serverArchive: String?
    @Option(help: "Expected SHA-256 of the server archive (hex).") var sha256: String?
    @Flag(help: "Replace binaries in /opt/k8s/bin that differ from the archive's.") var replaceBinaries = false
    @Option(help: "Seconds to wait for the API server to become ready.") var apiTimeout = 180
    @Option(help: ArgumentHelp("Phases to leave out, comma-separated (see 'seed init phase --help').", valueName: "phase,…"))
    var skipPhases: String?

    func run() async throws {
        try await Self.run(options: options, serverArchive: serverArchive, sha256: sha256, replaceBinaries: replaceBinaries, apiTimeout: apiTimeout,
                           only: nil, skipping: skipPhases.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [])
    }

    /// `seed init`, or the phases `only` names, with the options of `seed init`.
    static func run(options: ClusterOptions, serverArchive: String?, sha256: String?, replaceBinaries: Bool, apiTimeout: Int,
                    only: [String]?, skipping: [String]) async throws {
        let command = only == nil ? "seed init" : "seed init phase"
        let root = HostRoot(path: options.root)
        var cluster = try options.load(command, root: root)
        if let serverArchive {
            cluster.serverArchive = absolutePath(serverArchive)
        }
        if let sha256 { cluster.serverArchiveSHA256 = sha256.lowercased() }
        if let archive = cluster.serverArchive, !root.exists(archive) {
            CurrentProcess.writeError("\(command): nothing changed: \(ConfigError(.unreadable, file: archive, "no such server archive"))\n")
            throw ExitCode(2)
        }
        var operations = try options.operations(command)
        operations.apiServerTimeout = .seconds(apiTimeout)
        let code = await operations.initialize(cluster, source: options.source, replaceBinaries: replaceBinaries, only: only, skipping: skipping)
        if code != 0 { throw ExitCode(code) }
    }

    /// `seed init phase NAME…`: single phases of `seed init`, with its configuration and options.
    struct Phase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run single phases of 'seed init', in its order, with its configuration and options.",
            discussion: "The phases: " + InitPhase.initialization.map(\.commandName).joined(separator: ", ")
                + ". A phase that needs an earlier one's work (the API server for 'bootstrap-rbac') says so and is skipped when it is not done.")
        @Argument(help: "The phases to run.") var names: [String]
        @OptionGroup var options: ClusterOptions
        @Option(help: "kubernetes-server-linux-amd64.tar.gz for the binaries phase.") var serverArchive: String?
        @Option(help: "Expected SHA-256 of the server archive (hex).") var sha256: String?
        @Flag(help: "Replace binaries in /opt/k8s/bin that differ from the archive's.") var replaceBinaries = false
        @Option(help: "Seconds to wait for the API server to become ready.") var apiTimeout = 180

        func run() async throws {
            try await Init.run(options: options, serverArchive: serverArchive, sha256: sha256, replaceBinaries: replaceBinaries,
                               apiTimeout: apiTimeout, only: names, skipping: [])
        }
    }
}
