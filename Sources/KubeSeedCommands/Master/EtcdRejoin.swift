import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

/// `seed etcd leave` and `seed etcd rejoin`: around a restore on one master (a restore covers a one-member
/// etcd), the others step out of etcd and come back in as new members that copy the restored data.
extension MasterOperations {
    /// The units `seed etcd rejoin` starts again once etcd is back (those enabled, not running, and whose
    /// binary is in place): the control plane `seed etcd leave` stopped, in the order they start.
    static var controlPlaneStartOrder: [String] { restoreStopOrder.reversed().filter { $0 != "etcd.service" } }

    /// Where `seed etcd leave` notes the ID of the cluster it left (journaled: reset removes it), so that
    /// `seed etcd rejoin` does not join that cluster again before the restore has made a new one.
    static let leftClusterPath = "/var/lib/kubeseed/etcd-left-cluster"

    /// Whether `unit` can run: its binary (or, for the approver and the timers, the API server's) is in place.
    func controlPlaneBinaryInPlace(_ unit: String) -> Bool {
        guard let path = Self.controlPlaneUnits.first(where: { $0.name == unit })?.binaryPath else { return true }
        return root.isExecutable(path)
    }

    /// `seed etcd leave`: removes this master's etcd member through a healthy peer, under the quorum rule
    /// of `seed-agent reset` (the voters left behind that answer must be a majority of them), notes the
    /// cluster's ID, then stops the control plane and etcd here. etcd's data stays where it is until `rejoin`
    /// moves it aside: a removed member that starts again finds itself removed and stops. Exit 0 left (or
    /// had left); 2 refused (the last member, or no quorum after) and 1 etcd could not be asked, both with
    /// nothing changed; 1 also when the removal's answer was lost or a stop failed, each said.
    public func leaveEtcdCluster() async -> Int32 {
        let command = "seed etcd leave"
        guard let (_, ip, name, services) = recordedMasterWithSystemd(command) else { return 1 }
        let refuse = { (why: String, code: Int32) in nothingChanged(command, why, code) }
        do {
            return try await HostSession.with(root, effects: effects, at: location) { session in
                let identity = try etcdIdentity()
                let unit = try root.readText(EtcdUnit.path)
                let outcome: OwnMemberRemoval
                do {
                    outcome = try await removeOwnEtcdMember(ip: ip, endpoints: knownEtcdEndpoints(ip: ip, unit: unit, added: lastEtcdMemberAdded()), identity: identity)
                } catch let uncertain as EtcdRemovalUncertain {
                    write("\(command): \(uncertain); nothing was stopped. Run '\(command)' again: it finds the member gone, or removes it\n")
                    return 1
                } catch {
                    return refuse("no etcd member answered to remove \(name) through (\(error))", 1)
                }
                var lines: [String] = []
                switch outcome {
                case .lastMember(let member):
                    return refuse("\(member.displayName) is etcd's only member: there is no cluster to leave; a restore runs here ('seed etcd restore FILE')", 2)
                case .wouldLoseQuorum(let member, let remaining, let healthy):
                    return refuse("removing etcd member \(member.displayName) would leave \(remaining) voting members of which \(healthy) answer: no quorum. "
                                  + "Bring the others back first; if they are gone for good, stop etcd on every master that still runs it, "
                                  + "then restore on one with 'seed etcd restore FILE --only-member'", 2)
                case .noHealthyPeer(let member):
                    return refuse("no healthy member to remove etcd member \(member.displayName) through", 1)
                case .notAMember:
                    lines.append("  etcd      \(ip) is not a member of the cluster the others list (it left before)")
                case .removed(let member, let via, let remaining, let healthy, let clusterID):
                    lines.append("  removed   etcd member \(member.displayName) (\(EtcdMembership.hex(member.id))) through \(via); \(remaining) voting members stay, \(healthy) healthy")
                    if let clusterID {
                        do { try session.apply([.writeFile(path: Self.leftClusterPath, content: EtcdMembership.hex(clusterID) + "\n", mode: 0o644)]) } catch {
                            lines.append("  note      could not note the cluster left in \(Self.leftClusterPath) (\(error)): 'seed etcd rejoin' cannot tell it from the restored one")
                        }
                    }
                }
                var stopped: [String] = []
                do {
                    for unit in Self.restoreStopOrder where try services.unitState(unit).isActive {
                        try services.stop(unit)
                        stopped.append(unit)
                    }
                } catch {
                    write(lines.map { "\($0)\n" }.joined())
                    write("\(command): failed after the member was removed: \(error); stopped so far: \(stopped.isEmpty ? "nothing" : stopped.joined(separator: ", ")). "
                          + "Run '\(command)' again to stop the rest (or systemctl stop \(Self.restoreStopOrder.joined(separator: " ")))\n")
                    return 1
                }
                if case .notAMember = outcome, stopped.isEmpty {
                    write("\(command): nothing changed: \(name) is not an etcd member, and neither etcd nor the control plane runs here\n")
                    return 0
                }
                lines.append("  stopped   \(stopped.isEmpty ? "nothing (none was running)" : stopped.joined(separator: ", "))")
                write(lines.map { "\($0)\n" }.joined())
                write("\(command): \(name) has left etcd; its data stays in \(unit.flatMap { EtcdUnit.flagValue("--data-dir=", in: $0) } ?? "etcd's data directory") "
                      + "until 'seed etcd rejoin' here, after the restore, moves it aside and joins the restored cluster as a new member\n")
                return 0
            }
        } catch {
            return refuse("\(error)", 1)
        }
    }

    /// `seed etcd rejoin`: this master's etcd joins the cluster the other masters' etcd answers for, as a new
    /// member (added as a learner, its old data and WAL moved aside (`DIR.before-rejoin-TIME`, kept and
    /// named), started on empty directories, promoted once it has caught up), then the control-plane units
    /// that are enabled, not running and have their binary start, and the API server must answer. A run cut
    /// short is finished by the next; a master that is back changes nothing. Refused (exit 2, nothing
    /// changed): while the others answer for the cluster this master left (the restore has not run) unless
    /// `sameCluster`; while etcd runs here and the others do not list this master; on a PKI from before the
    /// etcd CA. Exit 1: a step failed (what is left is said).
    public func rejoinEtcdCluster(sameCluster: Bool = false) async -> Int32 {
        let command = "seed etcd rejoin"
        guard let (config, ip, name, services) = recordedMasterWithSystemd(command) else { return 1 }
        let refuse = { (why: String, code: Int32) in nothingChanged(command, why, code) }
        // The peers are trusted through the etcd CA alone: the cluster CA also signs kubelets' serving certificates.
        guard root.exists("\(certDirectory)/\(EtcdUnit.caFile)") else {
            return refuse("this master's PKI is from before etcd had a CA of its own: run 'seed init' here first", 2)
        }
        let settings = config.host
        let started = ContinuousClock.now
        do {
            return try await HostSession.with(root, effects: effects, at: location) { session in
                let identity = try etcdIdentity()
                let own = Self.url(ip, 2379)
                let peers = knownEtcdEndpoints(ip: ip, unit: try root.readText(EtcdUnit.path), added: lastEtcdMemberAdded()).filter { $0 != own }
                // No other master to ask: this one may be where the restore ran, which is no place to rejoin.
                func ownEtcdIsBack() async -> String? {
                    guard let mine = try? await localEtcdMembers(attempts: 1), case .back = EtcdMembership.returning(ip, members: mine) else { return nil }
                    return "\(name) is a voting member of its own etcd (\(mine.map(\.displayName).joined(separator: ", "))) and no other master's answers: "
                        + "if the restore ran here, run 'seed etcd rejoin' on the masters that left"
                }
                guard !peers.isEmpty else {
                    if let back = await ownEtcdIsBack() { return refuse(back, 0) }
                    return refuse("no other master is known here (its etcd unit, its join file and its agent name none) to join through", 2)
                }
                let members: [EtcdMember], clusterID: UInt64?, via: String
                do {
                    (members, clusterID, via) = try await withEtcdClients(peers, identity: identity) { cluster in
                        let answer = try await cluster.listCluster()
                        return (answer.members, answer.clusterID, answer.via.baseURL)
                    }
                } catch {
                    if let back = await ownEtcdIsBack() { return refuse(back, 0) }
                    return refuse("no other master's etcd answers (\(peers.joined(separator: ", "))): restore on the one master still in etcd first "
                                  + "('seed etcd restore FILE' there), then run this again: \(error)", 1)
                }
                // The member that answered must be one the list calls a started voter, at the address asked.
                guard members.contains(where: { !$0.isLearner && $0.started && $0.clientURLs.contains(via) }) else {
                    return refuse("the etcd that answered at \(via) is not a started voting member of the cluster it lists (\(members.map(\.displayName).joined(separator: ", ")))", 2)
                }
                let left = (try root.readText(Self.leftClusterPath))?.trimmingCharacters(in: .whitespacesAndNewlines)
                if let left, let clusterID, left == EtcdMembership.hex(clusterID), !sameCluster {
                    return refuse("the others answer for the cluster this master left (ID \(left)): the restore has not run. "
                                  + "Restore on the master still in etcd ('seed etcd restore FILE'), then run this again; "
                                  + "to join that cluster as it is (no restore), pass --same-cluster", 2)
                }
                let returning = EtcdMembership.returning(ip, members: members)
                let etcdState = try services.unitState("etcd.service")
                var lines: [String] = []
                var moved: [String] = []
                var keepsData = true
                switch returning {
                case .back:
                    break
                case .unfinished(let member):
                    keepsData = member.started
                case .absent:
                    if let refusal = EtcdAdmission.refusal(name: name, ip: ip, members: members, at: .join(hostHoldsMember: true)) {
                        return refuse("\(refusal)", 2)
                    }
                    guard !etcdState.isActive else {
                        return refuse("etcd runs here (\(etcdState.activeState)) and the cluster at \(via) (\(members.map(\.displayName).joined(separator: ", "))) "
                                      + "does not list \(name): run 'seed etcd leave' here first (it stops etcd and the control plane)", 2)
                    }
                    keepsData = false
                }
                func moveOldDataAside() throws {
                    guard !keepsData else { return }
                    if try services.unitState("etcd.service").isActive {
                        try services.stop("etcd.service")
                        lines.append("stopped etcd.service (it ran on the data from before)")
                    }
                    let full = [settings.etcdDataDir, settings.etcdWALDir].filter { !root.list($0).isEmpty }
                    if !full.isEmpty, let why = unmovableEtcdDirectory(settings) {
                        throw HostError(.file, why, cause: "move the data out of it by hand, then run '\(command)' again")
                    }
                    let stamp = EtcdSnapshot.stamp(Date())
                    for directory in full {
                        let aside = "\(directory).before-rejoin-\(stamp)"
                        let mode = root.mode(directory) ?? 0o700
                        try root.move(directory, to: aside)
                        moved.append(aside)
                        try root.makeDirectory(directory, mode: mode)
                    }
                }
                do {
                    if case .back = returning {
                        if !etcdState.isActive {
                            try session.apply([.startUnit("etcd.service")])
                            lines.append("started etcd.service")
                        }
                        _ = try await etcdHealth(ip)
                    } else {
                        let joined = try await addEtcdMember(name: name, ip: ip, config: config, peers: peers, identity: identity, session: session,
                                                             beforeStart: moveOldDataAside)
                        if joined.state == .changed { lines.append("etcd: \(joined.detail)") }
                    }
                    if root.exists(Self.leftClusterPath) { try session.apply([.removeFile(path: Self.leftClusterPath)]) }
                    var startedUnits: [String] = []
                    for unit in Self.controlPlaneStartOrder {
                        let state = try services.unitState(unit)
                        guard state.exists, state.unitFileState == "enabled", !state.isActive, controlPlaneBinaryInPlace(unit) else { continue }
                        try services.start(unit)
                        startedUnits.append(unit)
                    }
                    if !startedUnits.isEmpty { lines.append("started \(startedUnits.joined(separator: ", "))") }
                    if startedUnits.contains(ControlPlane.unitNames[0]) { _ = try await apiServerReady(ip) }
                    guard !lines.isEmpty || !moved.isEmpty else {
                        let voters = members.filter { !$0.isLearner }.count
                        write("\(command): nothing changed: \(name) is a voting member of \(voters), and its control plane runs\n")
                        return 0
                    }
                } catch {
                    write(lines.map { "  \($0)\n" }.joined())
                    let added = ((try? await withEtcdClients(peers, identity: identity) { try await $0.list().members }) ?? [])
                        .first { $0.hasPeer(ip: ip) }
                    write("\(command): failed: \(error). "
                          + (added.map { "etcd member \(EtcdMembership.hex($0.id)) is \($0.isLearner ? "a learner" : "a voter"); " } ?? "")
                          + "run '\(command)' again to finish\(added?.isLearner == true ? " (or remove the learner: etcdctl member remove \(EtcdMembership.hex(added!.id)))" : "")"
                          + (moved.isEmpty ? "" : "; the data from before is in \(moved.joined(separator: " and "))") + "\n")
                    return 1
                }
                write(lines.map { "  \($0)\n" }.joined())
                write("\(command): \(name) is back in etcd (\((ContinuousClock.now - started).milliseconds) ms)\n")
                if !moved.isEmpty { write("  the data from before is kept in \(moved.joined(separator: " and ")): remove it once the cluster is as it should be\n") }
                return 0
            }
        } catch {
            return refuse("\(error)", 1)
        }
    }
}
