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
        subcommands: [Init.self, Join.self, JoinFileCommand.self, Token.self, Certs.self, PKI.self, Etcd.self, CSRApproverCommand.self])

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
        let effects: HostEffects
        do { effects = try HostEffects.live() } catch {
            CurrentProcess.writeError("\(command): \(error)\n")
            throw ExitCode(1)
        }
        return MasterOperations(root: HostRoot(path: root), effects: effects, effectiveUID: CurrentProcess.effectiveUID)
    }
}

struct PKI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the cluster PKI in \(NodePaths.certDir), reusing what is there (the pki phase of 'seed init').",
        discussion: """
            Reads the same configuration and flags as 'seed init'. CA, etcd server and peer, kube-apiserver (every SAN, \
            extraSANs included), apiserver→etcd and apiserver→kubelet clients, controller-manager, scheduler, admin, \
            kube-proxy, front-proxy client, and a service-account key pair. Keys are 0600. An existing certificate \
            that no longer fits (a new master IP, another CA) is refused with the reason, never silently regenerated.
            """)
    @OptionGroup var options: ClusterOptions

    func run() async throws {
        let root = HostRoot(path: options.root)
        let cluster = try options.load("seed pki", root: root)
        let code = try await options.operations("seed pki").pki(cluster, source: options.source)
        if code != 0 { throw ExitCode(code) }
    }
}

struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every certificate in \(NodePaths.certDir) with its expiry.")
    @Option(help: "The certificate directory.") var dir = NodePaths.certDir

    func run() throws {
        var store = PKIStore(root: HostRoot())
        store.directory = dir
        let certificates = store.list()
        if certificates.isEmpty { say("seed certs: no certificates in \(dir)\n"); throw ExitCode(1) }
        let width = max(4, certificates.map(\.file.count).max() ?? 0)
        say("FILE".padding(toLength: width, withPad: " ", startingAt: 0) + "  EXPIRES               DAYS  SUBJECT / NAMES\n")
        for cert in certificates {
            let days = cert.notAfter.map { String(Int($0.timeIntervalSinceNow / 86400)) } ?? "-"
            let expires = cert.notAfter.map(Timestamp.string) ?? "-"
            var line = cert.file.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + expires.padding(toLength: 20, withPad: " ", startingAt: 0)
            line += "  " + days.padding(toLength: 4, withPad: " ", startingAt: 0) + "  " + cert.subject
            if !cert.names.isEmpty { line += " [" + cert.names.joined(separator: ", ") + "]" }
            if let problem = cert.problem { line += "  ← \(problem)" }
            say(line + "\n")
        }
        if certificates.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
    }
}

struct Etcd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run etcd (Debian's etcd-server) under systemd with mutual TLS, taking over the package's plaintext unit (the etcd phases of 'seed init').",
        discussion: """
            Reads the same configuration and flags as 'seed init'. Writes /etc/systemd/system/etcd.service (it shadows \
            Debian's plaintext unit of the same name), reloads systemd and starts or restarts etcd only when the unit \
            changed, then waits until etcd answers healthy over mutual TLS. The unit is Type=notify, so the start job \
            ends only when etcd reports itself ready. Needs the PKI ('seed pki') and the data directories ('seed-agent apply').
            """)
    @OptionGroup var options: ClusterOptions

    func run() async throws {
        let root = HostRoot(path: options.root)
        let cluster = try options.load("seed etcd", root: root)
        let code = try await options.operations("seed etcd").etcd(cluster, source: options.source)
        if code != 0 { throw ExitCode(code) }
    }
}

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

struct JoinFileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join-file",
        abstract: "Mint a join file for a node: a new bootstrap token, the cluster CA, this master's API server (0600).",
        discussion: """
            Writes /var/lib/kubeseed/join-files/NODE.yaml (or --output) in the agent's JoinConfiguration schema, \
            checked with the agent's own parser first. The token's Secret is created in kube-system now if the \
            API server answers, else by the next 'seed init'. The token never appears in output.
            """)
    @Argument(help: "The node's name (lowercase DNS name).") var node: String
    @Option(help: "The node's IP (default: the node picks its default-route address).") var ip: String?
    @Option(name: .customLong("role"), help: "A role label for the node (repeat; default: worker).") var roles: [String] = []
    @Option(help: "How long the token is valid, in hours (1 to 168; default 24, and 2 for a master's file, whose secrets expire with it).")
    var ttlHours: Int?
    @Option(help: "Where to write the join file.") var output: String?

    var isMaster: Bool { roles.contains(ControlPlaneSecrets.role) }

    func validate() throws {
        guard JoinFile.isValidNodeName(node) else { throw ValidationError("'\(node)' is not a node name (lowercase DNS name)") }
        if let ip, !IPAddress.isValid(ip) { throw ValidationError("--ip '\(ip)' is not an IP address") }
        for role in roles where !Validate.isDNSLabel(role) { throw ValidationError("--role '\(role)' is not a role name (a DNS label)") }
        if let ttlHours {
            guard (1...168).contains(ttlHours) else { throw ValidationError("--ttl-hours must be between 1 and 168") }
            guard !isMaster || ttlHours <= 24 else { throw ValidationError("--ttl-hours: a master's join file carries the cluster's keys; at most 24") }
        }
        if isMaster && ip == nil { throw ValidationError("--ip is required with --role control-plane: etcd and the API server listen on it") }
    }

    func run() async throws {
        let lifetime = ttlHours.map { Double($0) * 3600 } ?? (isMaster ? ControlPlaneSecrets.defaultLifetime : 24 * 3600)
        let request = JoinRequest(nodeName: node, nodeIP: ip, roles: roles.isEmpty ? ["worker"] : roles,
                                  expires: Date().addingTimeInterval(lifetime))
        let path = output.map(absolutePath)
        let operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
        let code = await operations.mintJoinFile(request, output: path)
        if code != 0 { throw ExitCode(code) }
    }
}

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

struct CSRApproverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csr-approver",
        abstract: "Approve kubelets' serving certificates that pass every check, deny the rest with a reason (run by \(ControlPlane.csrApproverUnit)).",
        discussion: """
            Watches CertificateSigningRequests for kubernetes.io/kubelet-serving with the admin credentials. Approves \
            one only when the requester is system:node:NAME in system:nodes and a join file was minted here for \
            NAME, the subject is exactly CN=system:node:NAME and O=system:nodes, the usages are the serving ones, \
            only subject alternative names are requested, and every name is one of the Node's addresses: the only \
            DNS name is NAME itself, and each IP is the one NAME's join file was minted with, never another \
            node's, a master's or in the service range. Anything else is denied with the failed check as the reason.
            """)

    func run() async throws {
        let operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
        let code = await operations.approveCSRs()
        if code != 0 { throw ExitCode(code) }
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The bootstrap tokens 'seed join-file' minted.",
        subcommands: [List.self, Delete.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (id, expiry, node; never the secret).")
        func run() throws {
            let operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
            let code = operations.listTokens()
            if code != 0 { throw ExitCode(code) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a token: its Secret in the cluster, then its record here.")
        @Argument(help: "The token id (the six characters before the dot).") var id: String
        func run() async throws {
            let operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
            let code = await operations.deleteToken(id: id)
            if code != 0 { throw ExitCode(code) }
        }
    }
}
