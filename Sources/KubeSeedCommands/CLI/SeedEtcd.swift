import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct Etcd: InitPhaseShortcut {
    static let configuration = CommandConfiguration(
        commandName: "etcd",
        abstract: "Run etcd (Debian's etcd-server) under systemd with mutual TLS, taking over the package's plaintext unit (the etcd phases of 'seed init').",
        discussion: """
            Reads the same configuration and flags as 'seed init'. Writes /etc/systemd/system/etcd.service (it shadows \
            Debian's plaintext unit of the same name), reloads systemd and starts or restarts etcd only when the unit \
            changed, then waits until etcd answers healthy over mutual TLS. The unit is Type=notify, so the start job \
            ends only when etcd reports itself ready. Needs the PKI ('seed pki') and the data directories ('seed-agent apply').
            'seed etcd snapshot' and 'seed etcd restore' keep and bring back its data; around a restore on one master \
            the others run 'seed etcd leave' before it and 'seed etcd rejoin' after it.
            """,
        subcommands: [EtcdSnapshotCommand.self, EtcdRestoreCommand.self, EtcdLeaveCommand.self, EtcdRejoinCommand.self])
    static let phaseNames = ["etcd", "etcd-health"]
    @OptionGroup var options: ClusterOptions
}

struct EtcdSnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Snapshots of this master's etcd member, in <host.dataDir>/etcd/snapshots (kubeseed-etcd-snapshot.timer takes one every 12 hours and keeps 5).",
        subcommands: [Save.self, List.self, Prune.self])

    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a snapshot through etcd's maintenance API, check it against the SHA-256 etcd sends with it, and keep it (0600).")
        @Argument(help: "Where to write it (default: in the snapshot directory, on-demand-etcd-snapshot-NODE-TIME.db, or etcd-snapshot-NODE-TIME.db with --keep); never over an existing file.") var file: String?
        @Option(help: "A scheduled save (the timer's): then delete all but the newest N scheduled snapshots; on-demand ones are never pruned.") var keep: Int?
        func run() async throws {
            let code = try await MasterOperations.live("seed etcd snapshot save").saveSnapshot(file: file.map { $0.isEmpty || $0.hasSuffix("/") ? $0 : absolutePath($0) }, keep: keep)
            if code != 0 { throw ExitCode(code) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The snapshots, newest first, and the last save's result (exit 1 when it failed).")
        func run() throws {
            let code = try MasterOperations.live("seed etcd snapshot list").listSnapshots()
            if code != 0 { throw ExitCode(code) }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete all but the newest N scheduled snapshots (on-demand ones and other files are never deleted).")
        @Option(help: "How many to keep.") var keep = 5
        func run() throws {
            let code = try MasterOperations.live("seed etcd snapshot prune").pruneSnapshots(keep: keep)
            if code != 0 { throw ExitCode(code) }
        }
    }
}

struct EtcdRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore this master's one-member etcd from a snapshot.",
        discussion: """
            Checks FILE against the SHA-256 at its end, stops the CSR approver, kube-scheduler, kube-controller-manager, \
            kube-apiserver and etcd, moves etcd's data and WAL directories aside, restores them with 'etcdctl snapshot \
            restore' (Debian's etcd-client) under a new cluster token, starts etcd and waits until it answers healthy, then \
            starts the rest and waits for the API server. A failure on the way puts the old directories back and starts \
            what was running. Refuses an etcd of more than one member: on a cluster of masters, run 'seed etcd leave' \
            on every other master first (one at a time), restore here, then 'seed etcd rejoin' on each (one at a time).
            """)
    @Argument(help: "The snapshot file.") var file: String
    @Flag(help: "This master's etcd is to be the only member: etcd does not answer, or the other members it lists are gone for good (none of them may answer).")
    var onlyMember = false
    @Option(help: "Seconds to wait for the restarted API server to become ready.") var apiTimeout = 300
    func validate() throws {
        try requireOption(apiTimeout, in: MasterOperations.apiTimeoutRange, "--api-timeout", "seed etcd restore")
    }
    func run() async throws {
        var operations = try MasterOperations.live("seed etcd restore")
        operations.apiServerTimeout = .seconds(apiTimeout)
        let code = await operations.restoreSnapshot(absolutePath(file), onlyMember: onlyMember)
        if code != 0 { throw ExitCode(code) }
    }
}

struct EtcdLeaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leave",
        abstract: "Take this master's etcd member out of the cluster and stop etcd and the control plane here (before a restore on another master).",
        discussion: """
            Removes the member through a healthy peer only while the voters left behind that answer are a majority of \
            them (as 'seed-agent reset' does), then stops the CSR approver, kube-scheduler, kube-controller-manager, \
            kube-apiserver and etcd. etcd's data stays in place until 'seed etcd rejoin' moves it aside. Refuses the \
            last member: a restore runs there.
            """)
    func run() async throws {
        let code = try await MasterOperations.live("seed etcd leave").leaveEtcdCluster()
        if code != 0 { throw ExitCode(code) }
    }
}

struct EtcdRejoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejoin",
        abstract: "Join this master's etcd to the cluster the other masters run, as a new member, and start the control plane again (after a restore).",
        discussion: """
            Asks the other masters' etcd for the member list, moves this master's old etcd data and WAL aside \
            (DIR.before-rejoin-TIME, kept), adds the member as a learner, starts etcd on empty directories, promotes it once \
            it has caught up, then starts the control-plane units that are enabled, not running and have their binary, and waits for the API \
            server. One master at a time: etcd takes one learner at a time. A second run changes nothing.
            """)
    @Option(help: "Seconds to wait for the started API server to become ready.") var apiTimeout = 300
    @Flag(help: "Join the cluster this master left even though no restore has made a new one since.") var sameCluster = false
    func validate() throws {
        try requireOption(apiTimeout, in: MasterOperations.apiTimeoutRange, "--api-timeout", "seed etcd rejoin")
    }
    func run() async throws {
        var operations = try MasterOperations.live("seed etcd rejoin")
        operations.apiServerTimeout = .seconds(apiTimeout)
        let code = await operations.rejoinEtcdCluster(sameCluster: sameCluster)
        if code != 0 { throw ExitCode(code) }
    }
}

extension MasterOperations {
    /// The operations on this host (under `root`), or exit 1 saying why there are none.
    static func live(_ command: String, root: String = "/") throws -> MasterOperations {
        do { return MasterOperations(root: HostRoot(path: root), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID) } catch {
            CurrentProcess.writeError("\(command): \(error)\n")
            throw ExitCode(1)
        }
    }
}
