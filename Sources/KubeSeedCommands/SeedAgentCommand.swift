import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

/// `seed-agent`: prepares a node for Kubernetes.
public struct SeedAgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "seed-agent",
        abstract: "Prepare this node for Kubernetes: kernel modules, sysctls, swap, SELinux, time, directories.",
        subcommands: [Check.self, Apply.self, Reset.self, Run.self, Status.self, ValidateJoin.self, InstallBinaries.self, UnitProbe.self])

    public init() {}
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Agent config file (default: \(AgentConfig.defaultPath); defaults apply when it is absent).")
    var config: String?

    func operations() throws -> AgentOperations {
        let root = HostRoot()
        let settings: NodePrepSettings
        do {
            settings = try AgentOperations.loadSettings(root: root, path: config)
        } catch {
            CurrentProcess.writeError("seed-agent: \(error)\nseed-agent: nothing changed\n")
            throw ExitCode(2)
        }
        return try liveOperations(root: root, settings: settings)
    }
}

func liveOperations(root: HostRoot, settings: NodePrepSettings) throws -> AgentOperations {
    let effects: HostEffects
    do {
        effects = try HostEffects.live()
    } catch {
        CurrentProcess.writeError("seed-agent: \(error)\n")
        throw ExitCode(1)
    }
    return AgentOperations(root: root, effects: effects, settings: settings, effectiveUID: CurrentProcess.effectiveUID)
}

/// `path` made absolute against the working directory, `.` and `..` components resolved (no symlinks followed).
func absolutePath(_ path: String) -> String {
    let joined = path.hasPrefix("/") ? path : CurrentProcess.workingDirectory + "/" + path
    var components: [Substring] = []
    for component in joined.split(separator: "/") where component != "." {
        if component == ".." { _ = components.popLast() } else { components.append(component) }
    }
    return "/" + components.joined(separator: "/")
}

func say(_ text: String) {
    CurrentProcess.write(text)
}

func finish(_ outcome: AgentOperations.Outcome) throws {
    say(outcome.output)
    if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read-only preflight: what is ok, what apply will change, what fails. Changes nothing.")
    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws { try finish(try options.operations().check(json: json)) }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prepare the node. Writes only what differs; every change is journaled for 'reset'.")
    @OptionGroup var options: ConfigOption

    func run() throws { try finish(try options.operations().apply()) }
}

struct Reset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore everything 'apply' changed, from its journal.",
        discussion: """
            On a master, first removes its etcd member through a healthy peer, so the members that stay keep a \
            correct quorum; refuses (exit 2, nothing changed) when the voting members left that answer would not \
            be a majority, or when no member answers, unless --force.
            """)
    @OptionGroup var options: ConfigOption
    @Flag(help: "On a master: reset even when its etcd member cannot be removed safely.") var force = false

    func run() async throws {
        let agent = try options.operations()
        guard agent.effectiveUID == 0 else { try finish(agent.reset()) ; return }
        // One session from leaving etcd to the last restored file: nothing of KubeSeed's runs in between.
        let outcome: AgentOperations.Outcome?
        do {
            outcome = try await HostSession.with(agent.root, effects: agent.effects, at: agent.location(waiting: .seconds(120))) { session in
                let leave = await MasterOperations(root: agent.root, effects: agent.effects, effectiveUID: agent.effectiveUID).leaveEtcd(force: force)
                say(leave.output)
                return leave.refused ? nil : agent.reset(in: session)
            }
        } catch {
            say("seed-agent reset: nothing changed: \(error)\n")
            throw ExitCode(1)
        }
        guard let outcome else { throw ExitCode(2) }
        try finish(outcome)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The node agent (seed-agent.service): converge from the join file, report readiness, wait for changes.",
        discussion: """
            Validates the join file, prepares the node, writes containerd / kubelet / kube-proxy configuration and \
            units, starts what can run, then sends READY=1 and waits (inotify) for the join file or /opt/k8s/bin to \
            change, or for an image archive in /var/lib/kubeseed/images (imported into containerd's k8s.io \
            namespace; checked against SHA256SUMS there when present). Once the kubelet has its client certificate, it also asks every minute which API servers the \
            default/kubernetes EndpointSlice lists, and points the node-local balancer at them when they changed. \
            An invalid join file changes nothing; the agent reports why and waits for a fix.
            """)
    @Option(help: "The join file.") var join = JoinFile.defaultPath
    @Flag(help: "One pass, then exit (0 when ready).") var once = false

    func run() async throws {
        // The watcher compares absolute paths: a relative --join would name no directory at all.
        let join = absolutePath(self.join)
        let operations = try liveOperations(root: HostRoot(), settings: NodePrepSettings())
        let watcher = try DirectoryWatcher()
        let joinDirectory = (join as NSString).deletingLastPathComponent
        try watcher.watch(joinDirectory)
        var watchingBinaries = false
        var watchingImages = false
        var notifiedReady = false
        while true {
            ServiceNotifier.notify("STATUS=converging from \(Validate.printable(join))")
            let pass = operations.converge(joinPath: join)
            // Unbuffered writes: the journal reads stdout through a pipe.
            say(pass.output + "seed-agent: \(pass.status.ready ? "ready" : "not ready"): \(pass.status.summary) (\(pass.changes) changes)\n")
            do { try operations.writeStatus(pass.status) } catch { say("seed-agent: could not write the status file: \(error)\n") }
            // One line: a value that slipped a newline into the summary must not add READY=1 or anything else.
            ServiceNotifier.notify("STATUS=\(pass.status.ready ? "ready" : "not ready"): \(Validate.printable(pass.status.summary))")
            if pass.status.ready && !notifiedReady {
                ServiceNotifier.notify("READY=1")
                notifiedReady = true
            }
            if once { throw ExitCode(pass.status.ready ? 0 : 1) }
            // A component that failed may come up on a fresh try: exit and let systemd restart us
            // (Restart=on-failure, RestartSec=10). A bad join file instead waits for an edit.
            if !pass.status.ready && pass.retryable { throw ExitCode(1) }
            if !watchingBinaries, operations.root.isDirectory(NodePaths.binDir) {
                try watcher.watch(NodePaths.binDir)
                watchingBinaries = true
            }
            if !watchingImages, operations.root.isDirectory(ImageArchives.directory) {
                try watcher.watch(ImageArchives.directory)
                watchingImages = true
            }
            // Sleep in the kernel until the join file or the binaries directory changes, waking every
            // interval to ask which API servers there are.
            while true {
                let changed = try watcher.next(timeout: APIServerDiscovery.interval)
                if changed.isEmpty {
                    let refresh = await operations.refreshAPIServers(joinPath: join)
                    if refresh.changed { say("seed-agent: \(refresh.message)\n"); break }
                    continue
                }
                if changed.contains(where: { $0 == join || $0.hasPrefix(NodePaths.binDir + "/") || $0.hasPrefix(ImageArchives.directory + "/") }) { break }
            }
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the running agent last reported: every check with its state and reason.")
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let root = HostRoot()
        if CurrentProcess.effectiveUID != 0 && root.exists(AgentStatus.defaultPath) && !root.isReadable(AgentStatus.defaultPath) {
            print("seed-agent status: \(AgentStatus.defaultPath) is root's alone (it describes the join file); run as root")
            throw ExitCode(4)
        }
        guard let data = try root.read(AgentStatus.defaultPath) else {
            print("seed-agent is not running or has not finished a pass (no \(AgentStatus.defaultPath)); see: systemctl status seed-agent")
            throw ExitCode(3)
        }
        let status = try JSONDecoder().decode(AgentStatus.self, from: data)
        print(json ? String(decoding: status.encoded(), as: UTF8.self) : status.table(), terminator: json ? "\n" : "")
        if !status.ready { throw ExitCode(1) }
    }
}

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
        let agent = try liveOperations(root: root, settings: NodePrepSettings())
        do {
            let installed = try HostSession.with(root, effects: agent.effects, at: agent.location()) { session in
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

struct ValidateJoin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate a join file without changing anything: exit 0 when valid, 2 with the field and line when not.")
    @Argument(help: "The join file.") var file = JoinFile.defaultPath

    func run() throws {
        let path = absolutePath(file)
        do {
            let join = try AgentOperations.loadJoinFile(root: HostRoot(), path: path, effectiveUID: CurrentProcess.effectiveUID)
            say("\(path): valid: cluster \(join.clusterName) (\(join.kubernetesVersion)) at \(join.apiServerEndpoints.joined(separator: ", ")); token \(join.token) expires \(Timestamp.string(join.tokenExpires))\n")
        } catch {
            CurrentProcess.writeError("seed-agent: \(error)\n")
            throw ExitCode(2)
        }
    }
}

/// Hidden: writes a oneshot unit through KubeSeed's one unit writer whose `ExecStart=` prints each given
/// argument NUL-terminated, so a test on a real host can have systemd itself parse, verify and run it,
/// and compare the words it got with the words given (whatever they hold: spaces, quotes, `%`, `$`,
/// control characters).
struct UnitProbe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unit-probe", shouldDisplay: false)
    @Option(help: "Where to write the unit.") var unit: String
    @Option(help: "The file the unit's output goes to.") var output: String
    @Argument(parsing: .captureForPassthrough) var words: [String] = []

    func run() throws {
        let arguments = words.first == "--" ? Array(words.dropFirst()) : words
        let text = SystemdUnit(comment: "KubeSeed unit-writer probe (a test)", [
            .init("Unit", [("Description", .text("KubeSeed unit-writer probe"))]),
            .init("Service", [
                ("Type", .text("oneshot")),
                ("StandardOutput", .text("file:\(output)")),
                ("ExecStart", .command("/usr/bin/printf", ["%s\\0"] + arguments)),
            ]),
        ]).render()
        try HostRoot().writeAtomically(unit, Data(text.utf8), mode: 0o644)
    }
}
