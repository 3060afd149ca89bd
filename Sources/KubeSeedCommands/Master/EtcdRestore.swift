import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

/// `seed etcd restore FILE` on a master whose etcd is a cluster of one.
extension MasterOperations {
    /// What a restore stops, in order, and starts again in reverse.
    static let restoreStopOrder = [ControlPlane.csrApproverUnit, "kube-scheduler.service", "kube-controller-manager.service",
                                   ControlPlane.unitNames[0], "etcd.service"]

    /// Restores this master's etcd from `file` (checked against its SHA-256 first): the control plane and
    /// etcd stop, etcd's data and WAL directories move aside, `etcdctl snapshot restore` makes new ones
    /// (a new cluster token), etcd starts and answers healthy, and the control plane starts again. Any
    /// failure after the move puts the old directories back and starts what was running. The old
    /// directories are kept beside the new ones, named in the output, for the operator to remove.
    ///
    /// Only for a one-member etcd: with more members each would have to be restored from the same
    /// snapshot at once, which this does not do, so it refuses (nothing changed).
    public func restoreSnapshot(_ file: String, etcdctl: String = "/usr/bin/etcdctl") async -> Int32 {
        let command = "seed etcd restore"
        guard effectiveUID == 0 else { write("\(command): must run as root\n"); return 1 }
        guard let (config, ip, name) = recordedMaster(command) else { return 1 }
        guard let services = effects.services else { write("\(command): nothing changed: \(effects.busError ?? "no systemd bus")\n"); return 1 }
        // The refusals: nothing changes.
        let check: EtcdSnapshotFiles.Check
        do { check = try EtcdSnapshotFiles.check(root, file) } catch {
            write("\(command): nothing changed: \(error)\n")
            return 2
        }
        guard check.hashMatches == true else {
            write("\(command): nothing changed: \(file) \(check.hashMatches == false ? "does not match the SHA-256 at its end: it is damaged" : "carries no SHA-256 to check it against (not a snapshot 'seed etcd snapshot save' or etcdctl took)")\n")
            return 2
        }
        guard FileManager.default.isExecutableFile(atPath: etcdctl) else {
            write("\(command): nothing changed: \(etcdctl) is missing: apt install etcd-client\n")
            return 1
        }
        let unit = (try? root.readText(EtcdUnit.path)) ?? nil
        let peers = unit.map(EtcdUnit.initialClusterHosts) ?? []
        if peers.count > 1 {
            write("\(command): nothing changed: etcd's unit names \(peers.count) members (\(peers.joined(separator: ", "))); a restore here covers a one-member etcd only. "
                  + "Remove the other masters first ('seed-agent reset' on each), restore here, then join them again ('seed join-file NAME --role control-plane')\n")
            return 2
        }
        if let members = try? await localEtcdMembers(attempts: 2), members.count > 1 {
            write("\(command): nothing changed: etcd has \(members.count) members (\(members.map(\.displayName).joined(separator: ", "))); a restore here covers a one-member etcd only. "
                  + "Remove the other masters first ('seed-agent reset' on each), restore here, then join them again\n")
            return 2
        }
        let settings = config.host
        let stamp = EtcdSnapshot.stamp(Date())
        let directories = [settings.etcdDataDir, settings.etcdWALDir]
        let asides = directories.map { "\($0).before-restore-\(stamp)" }
        let started = ContinuousClock.now
        do {
            return try await HostSession.with(root, effects: effects, at: location) { _ in
                var stopped: [String] = []
                var moved: [(String, String)] = []
                var restoring = false
                func undo(_ why: String) {
                    try? services.stop("etcd.service")
                    if restoring { for directory in directories { try? root.removeTree(directory) } }
                    for (from, to) in moved.reversed() { try? root.move(to, to: from) }
                    for unit in stopped.reversed() { try? services.start(unit) }
                    let restarted = stopped.isEmpty ? "" : " and \(stopped.reversed().joined(separator: ", ")) started again"
                    write("\(command): failed; etcd's data is as it was\(restarted): \(why)\n")
                }
                do {
                    for unit in Self.restoreStopOrder where try services.unitState(unit).isActive {
                        try services.stop(unit)
                        stopped.append(unit)
                    }
                    write("\(command): stopped \(stopped.isEmpty ? "nothing (none was running)" : stopped.joined(separator: ", "))\n")
                    for (directory, aside) in zip(directories, asides) where root.exists(directory) {
                        try root.move(directory, to: aside)
                        moved.append((directory, aside))
                    }
                    let peer = IPAddress.httpsURL(ip, port: 2380)
                    restoring = true
                    let restored = try ProgramRunner.run(etcdctl, [
                        "snapshot", "restore", root.resolve(file), "--name=\(name)", "--initial-cluster=\(name)=\(peer)",
                        "--initial-advertise-peer-urls=\(peer)", "--initial-cluster-token=kubeseed-etcd-restored-\(stamp)",
                        "--data-dir=\(root.resolve(settings.etcdDataDir))", "--wal-dir=\(root.resolve(settings.etcdWALDir))",
                    ], timeout: .seconds(600))
                    guard restored.status == 0 else {
                        throw HostError(.program, "etcdctl snapshot restore exited \(restored.status)", cause: restored.output.trimmingCharacters(in: .whitespacesAndNewlines))
                    }
                    try services.start("etcd.service")
                    _ = try await etcdHealth(ip)
                    for unit in stopped.reversed() where unit != "etcd.service" { try services.start(unit) }
                    if stopped.contains(ControlPlane.unitNames[0]) { _ = try await apiServerReady(ip) }
                } catch {
                    undo("\(error)")
                    return 1
                }
                let elapsed = ContinuousClock.now - started
                write("\(command): etcd restored from \(file) (\(check.size) bytes) and healthy; \(stopped.reversed().filter { $0 != "etcd.service" }.joined(separator: ", ")) started again (\(elapsed.milliseconds) ms)\n")
                if !moved.isEmpty { write("  the data before the restore is kept in \(moved.map(\.1).joined(separator: " and ")): remove it once the cluster is as it should be\n") }
                return 0
            }
        } catch {
            write("\(command): nothing changed: \(error)\n")
            return 1
        }
    }
}
