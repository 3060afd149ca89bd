import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

/// `seed etcd snapshot save|list|prune` and `seed etcd restore` on a master.
extension MasterOperations {
    /// This master's recorded configuration, or why there is none.
    func recordedMaster(_ command: String) -> (config: ClusterConfig, ip: String, name: String)? {
        do {
            guard let config = try recordedConfig(), let ip = config.masterIP, let name = config.masterName else {
                write("\(command): \(ClusterConfig.recordPath) is missing: run 'seed init' (or 'seed join') on this master first\n")
                return nil
            }
            return (config, ip, name)
        } catch {
            write("\(command): \(error)\n")
            return nil
        }
    }

    /// What the commands that stop and start this master's etcd need first: root, the record, systemd;
    /// `nil` after saying which is missing (exit 1, nothing changed).
    func recordedMasterWithSystemd(_ command: String) -> (config: ClusterConfig, ip: String, name: String, services: any ServiceManager)? {
        guard effectiveUID == 0 else { write("\(command): must run as root\n"); return nil }
        guard let (config, ip, name) = recordedMaster(command) else { return nil }
        guard let services = effects.services else {
            _ = nothingChanged(command, effects.busError ?? "no systemd bus", 1)
            return nil
        }
        return (config, ip, name, services)
    }

    /// Says `command` changed nothing, and why; returns `code`.
    func nothingChanged(_ command: String, _ why: String, _ code: Int32) -> Int32 {
        write("\(command): nothing changed: \(why)\n")
        return code
    }

    func snapshotFiles(_ config: ClusterConfig) -> EtcdSnapshotFiles {
        EtcdSnapshotFiles(root: root, directory: config.host.etcdSnapshotDir)
    }

    /// Takes a snapshot of this master's etcd member through the maintenance API, checks it against the
    /// hash etcd sends with it, and keeps it 0600 (at `file`, or named by node and time in the snapshot
    /// directory); then, with `keep`, deletes all but the newest `keep`. The result is recorded for `list`.
    public func saveSnapshot(file: String?, keep: Int?) async -> Int32 {
        let command = "seed etcd snapshot save"
        guard effectiveUID == 0 else { write("\(command): must run as root\n"); return 1 }
        if let keep, keep < 1 { write("\(command): nothing changed: --keep must be 1 or more\n"); return 2 }
        if let file, file.isEmpty || file.hasSuffix("/") || file.contains("\0") {
            write("\(command): nothing changed: FILE must name a file\n")
            return 2
        }
        // Paths reach every message below: none carries a control character to a terminal or the journal.
        if let file, Validate.printable(file) != file {
            write("\(command): nothing changed: FILE is \(Validate.shown(file)); name a file without one\n")
            return 2
        }
        guard let (config, ip, name) = recordedMaster(command) else { return 1 }
        let files = snapshotFiles(config)
        let started = ContinuousClock.now
        let url = Self.url(ip, 2379)
        do {
            let writer = try files.begin(file ?? EtcdSnapshot.fileName(node: name, at: Date(), onDemand: keep == nil))
            do {
                let oversized = OversizedLine()
                let response = try await connect(url, etcdIdentity(), APITimeouts(connect: .seconds(3), read: .seconds(60))).closing { client in
                    try await client.streamLines(EtcdSnapshot.request(), timeout: .seconds(3600), maximumLine: 4 << 20,
                                                 oversized: { oversized.record($0) }) { line in
                        try writer.append(try EtcdSnapshot.blob(in: line))
                    }
                }
                guard response.status == 200 else {
                    throw APIError(.status, "etcd at \(url) answered \(response.status) to the snapshot", cause: EtcdMembership.errorMessage(response.body))
                }
                if let size = oversized.size { throw EtcdSnapshot.StreamError(description: "a line of \(size) bytes in etcd's snapshot stream was dropped") }
            } catch {
                writer.discard()
                throw error
            }
            let check = try writer.finish()
            let elapsed = ContinuousClock.now - started
            let line = "\(Timestamp.string(Date())) ok \(writer.path) \(check.size) bytes, SHA-256 checked, \(elapsed.milliseconds) ms"
            files.recordResult(line)
            write("\(command): \(writer.path): \(check.size) bytes, the SHA-256 etcd sent matches (\(elapsed.milliseconds) ms)\n")
        } catch {
            files.recordResult("\(Timestamp.string(Date())) FAILED \(error)")
            write("\(command): failed, nothing kept: \(error)\n")
            return 1
        }
        if let keep { return pruneSnapshots(keep: keep, files: files, command: command) }
        return 0
    }

    public func listSnapshots() -> Int32 {
        let command = "seed etcd snapshot list"
        guard let (config, _, _) = recordedMaster(command) else { return 1 }
        let files = snapshotFiles(config)
        let entries = files.list()
        write("\(files.directory): \(entries.count) snapshot\(entries.count == 1 ? "" : "s")\n")
        for entry in entries {
            write("  \(entry.name)  \(Timestamp.string(entry.takenAt))  \(entry.size) bytes\(EtcdSnapshot.isOnDemand(entry.name) ? "  (on demand: never pruned)" : "")\n")
        }
        write("last save: \(files.lastResult() ?? "none recorded")\n")
        return (files.lastResult() ?? "").contains(" FAILED ") ? 1 : 0
    }

    public func pruneSnapshots(keep: Int) -> Int32 {
        let command = "seed etcd snapshot prune"
        guard keep >= 1 else { write("\(command): nothing changed: --keep must be 1 or more\n"); return 2 }
        guard let (config, _, _) = recordedMaster(command) else { return 1 }
        return pruneSnapshots(keep: keep, files: snapshotFiles(config), command: command)
    }

    func pruneSnapshots(keep: Int, files: EtcdSnapshotFiles, command: String) -> Int32 {
        do {
            let removed = try files.prune(keep: keep)
            write("\(command): \(removed.isEmpty ? "nothing to delete" : "deleted \(removed.joined(separator: ", "))"); the newest \(keep) kept\n")
            return 0
        } catch {
            write("\(command): \(error)\n")
            return 1
        }
    }
}

/// The size of a line the stream dropped, if one was.
private final class OversizedLine: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Int?
    func record(_ size: Int) { lock.withLock { seen = size } }
    var size: Int? { lock.withLock { seen } }
}
