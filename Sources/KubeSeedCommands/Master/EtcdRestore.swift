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
    /// failure after the first stop stops what this run started, puts the old directories back and starts
    /// what was running; what could not be put back is said. The old directories are kept beside the new
    /// ones, named in the output, for the operator to remove.
    ///
    /// Only for a one-member etcd, as etcd's member list says. When etcd does not answer (the reason for
    /// many a restore), or lists members that are gone for good, the operator says so with `onlyMember`;
    /// then every other member listed must not answer at all (a restore here of one member of several that
    /// still run would make a second cluster beside the first).
    public func restoreSnapshot(_ file: String, onlyMember: Bool = false, etcdctl: String = "/usr/bin/etcdctl") async -> Int32 {
        let command = "seed etcd restore"
        guard let (config, ip, name, services) = recordedMasterWithSystemd(command) else { return 1 }
        func refuse(_ why: String, _ code: Int32 = 2) -> Int32 { nothingChanged(command, why, code) }
        guard file.hasPrefix("/") else { return refuse("FILE must be an absolute path") }
        // Paths reach every message below: none carries a control character to a terminal or the journal.
        guard Validate.printable(file) == file else { return refuse("FILE is \(Validate.shown(file)); name a file without one") }
        // `identity` is there for regular files only (a directory, a device, a missing path: nil).
        guard root.identity(file) != nil, root.readLink(file) == nil else {
            return refuse("\(file) is not a regular file")
        }
        let check: EtcdSnapshotFiles.Check
        do { check = try EtcdSnapshotFiles.check(root, file) } catch { return refuse("\(error)") }
        guard check.hashMatches == true else {
            return refuse("\(file) \(check.hashMatches == false ? "does not match the SHA-256 at its end: it is damaged" : "carries no SHA-256 to check it against (not a snapshot 'seed etcd snapshot save' or etcdctl took)")")
        }
        guard FileManager.default.isExecutableFile(atPath: etcdctl) else { return refuse("\(etcdctl) is missing: apt install etcd-client", 1) }
        let settings = config.host
        let directories = [settings.etcdDataDir, settings.etcdWALDir]
        if let why = unmovableEtcdDirectory(settings) { return refuse("\(why); restore into it by hand") }
        switch await countMembers() {
        case .counted(let members) where members.count > 1:
            let others = members.filter { !$0.hasPeer(ip: ip) }
            // Lost for good (no quorum, so none can leave): the operator stops etcd where it still runs and says so.
            if onlyMember {
                let answering = await answeringEtcdMembers(others)
                if answering.isEmpty { break }
                return refuse("--only-member, but etcd still runs on \(answering.map(\.displayName).joined(separator: " and ")) (it answers): stop it there first, "
                              + "or a second cluster would run beside this one")
            }
            return refuse("etcd has \(members.count) members (\(members.map(\.displayName).joined(separator: ", "))); a restore covers a one-member etcd. "
                          + "Run 'seed etcd leave' on \(others.map(\.displayName).joined(separator: " and ")), one at a time; then restore here, and run 'seed etcd rejoin' on each of them, one at a time. "
                          + "If they are gone for good (no quorum: a leave is refused), stop etcd on those that still run it and run this with --only-member")
        case .counted:
            break
        case .unanswered(let why) where !onlyMember:
            return refuse("etcd does not answer (\(why)), so its members cannot be counted. If this master's etcd is the cluster's only member, "
                          + "run again with --only-member; if there are others, restoring here would make a second cluster beside theirs")
        case .unanswered:
            break
        }
        let stamp = EtcdSnapshot.stamp(Date())
        let started = ContinuousClock.now
        do {
            return try await HostSession.with(root, effects: effects, at: location) { _ in
                var stopped: [String] = []
                var moved: [(from: String, to: String)] = []
                var restoring = false
                var startedEtcd = false
                func undo(_ why: String) {
                    // Whatever this run started runs on the restored data: it stops before the data goes back,
                    // and if one does not stop, no directory is touched under it.
                    var stopFailures: [String] = []
                    for unit in Self.restoreStopOrder where (stopped.contains(unit) || (unit == "etcd.service" && startedEtcd))
                        && ((try? services.unitState(unit).isActive) ?? true) {
                        do { try services.stop(unit) } catch { stopFailures.append("stop \(unit): \(error)") }
                    }
                    guard stopFailures.isEmpty else {
                        write("\(command): failed (\(why)), and \(stopFailures.joined(separator: "; ")); nothing was put back under a running unit. "
                              + (restoring ? "etcd's directories hold the restored data; the data from before is in \(moved.filter { root.exists($0.to) }.map(\.to).joined(separator: " and ")). " : "")
                              + "Stop the control plane and etcd, then move the directories back by hand\n")
                        return
                    }
                    var dataFailures: [String] = []
                    // `restoring` is set only once every directory there was is moved aside: what is at these paths now is etcdctl's.
                    if restoring {
                        for directory in directories {
                            do { try root.removeTree(directory) } catch { dataFailures.append("\(error)") }
                        }
                    }
                    for (from, to) in moved.reversed() where root.exists(to) {
                        do { try root.move(to, to: from) } catch { dataFailures.append("put \(to) back as \(from): \(error)") }
                    }
                    guard dataFailures.isEmpty else {
                        write("\(command): failed (\(why)), and putting etcd's data back failed: \(dataFailures.joined(separator: "; ")). "
                              + "Nothing was started again; put the directories named above back by hand, then start etcd and the control plane\n")
                        return
                    }
                    var startFailures: [String] = []
                    for unit in stopped.reversed() {
                        do { try services.start(unit) } catch { startFailures.append("start \(unit): \(error)") }
                    }
                    let restarted = stopped.isEmpty ? "" : " and \(stopped.reversed().joined(separator: ", ")) started again"
                    write("\(command): failed; etcd's data is as it was\(startFailures.isEmpty ? restarted : ", but \(startFailures.joined(separator: "; "))"): \(why)\n")
                }
                do {
                    for unit in Self.restoreStopOrder where try services.unitState(unit).isActive {
                        stopped.append(unit)
                        try services.stop(unit)
                    }
                    write("\(command): stopped \(stopped.isEmpty ? "nothing (none was running)" : stopped.joined(separator: ", "))\n")
                    for directory in directories where root.exists(directory) {
                        let aside = "\(directory).before-restore-\(stamp)"
                        // Recorded first: a rename whose flush fails has still happened.
                        moved.append((directory, aside))
                        try root.move(directory, to: aside)
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
                    startedEtcd = true
                    try services.start("etcd.service")
                    _ = try await etcdHealth(ip)
                    for unit in stopped.reversed() where unit != "etcd.service" { try services.start(unit) }
                    if stopped.contains(ControlPlane.unitNames[0]) { _ = try await apiServerReady(ip) }
                } catch {
                    undo("\(error)")
                    return 1
                }
                let elapsed = ContinuousClock.now - started
                let others = stopped.reversed().filter { $0 != "etcd.service" }
                write("\(command): etcd restored from \(file) (\(check.size) bytes) and healthy\(others.isEmpty ? "" : "; \(others.joined(separator: ", ")) started again") (\(elapsed.milliseconds) ms)\n")
                if !moved.isEmpty { write("  the data before the restore is kept in \(moved.map(\.to).joined(separator: " and ")): remove it once the cluster is as it should be\n") }
                return 0
            }
        } catch {
            return refuse("\(error)", 1)
        }
    }

    /// Why etcd's data or WAL directory cannot be moved aside (a symbolic link, a mount point); `nil` when both can.
    func unmovableEtcdDirectory(_ settings: NodePrepSettings) -> String? {
        for directory in [settings.etcdDataDir, settings.etcdWALDir] {
            if root.readLink(directory) != nil { return "\(directory) is a symbolic link, which is not moved aside" }
            let parent = (directory as NSString).deletingLastPathComponent
            if let own = root.device(directory), let above = root.device(parent), own != above {
                return "\(directory) is a mount point: it cannot be moved aside"
            }
        }
        return nil
    }

    /// The members of `members` whose etcd answers at all (healthy or not: it runs), by their client URL.
    func answeringEtcdMembers(_ members: [EtcdMember]) async -> [EtcdMember] {
        guard let identity = try? etcdIdentity() else { return members }
        var answering: [EtcdMember] = []
        for member in members {
            // One that never started has no client URL; its peer host is where it would run.
            let url = member.clientURLs.first ?? member.peerHost.map { Self.url($0, 2379) }
            guard let url else { continue }
            let result = try? await withClient(url, identity: identity, connectTimeout: .seconds(2)) { await Readiness.etcdHealthy($0) }
            switch result {
            case .success?: answering.append(member)
            case .failure(let error)? where error.code == .status: answering.append(member)
            default: break
            }
        }
        return answering
    }

    /// etcd's members as this master's etcd lists them, or why it did not answer.
    enum MemberCount { case counted([EtcdMember]), unanswered(String) }

    func countMembers() async -> MemberCount {
        do { return .counted(try await localEtcdMembers(attempts: 2)) } catch { return .unanswered("\(error)") }
    }
}
