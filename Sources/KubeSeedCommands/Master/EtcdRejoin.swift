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

    /// Whether `unit` can run: its binary (or, for the approver and the timers, the API server's) is in place.
    func controlPlaneBinaryInPlace(_ unit: String) -> Bool {
        guard let path = Self.controlPlaneUnits.first(where: { $0.name == unit })?.binaryPath else { return true }
        return root.isExecutable(path)
    }

    /// `seed etcd leave`: removes this master's etcd member through a healthy peer, under the quorum rule
    /// of `seed-agent reset` (the voters left behind that answer must be a majority of them), then stops the
    /// control plane and etcd here. etcd's data stays where it is until `rejoin` moves it aside: a removed
    /// member that starts again finds itself removed and stops. Exit 0 left (or had left), 1 etcd could not
    /// be asked, 2 refused (the last member, or no quorum after); nothing changes when it is not 0.
    public func leaveEtcdCluster() async -> Int32 {
        let command = "seed etcd leave"
        guard effectiveUID == 0 else { write("\(command): must run as root\n"); return 1 }
        guard let (_, ip, name) = recordedMaster(command) else { return 1 }
        guard let services = effects.services else { write("\(command): nothing changed: \(effects.busError ?? "no systemd bus")\n"); return 1 }
        func refuse(_ why: String, _ code: Int32) -> Int32 {
            write("\(command): nothing changed: \(why)\n")
            return code
        }
        do {
            return try await HostSession.with(root, effects: effects, at: location) { _ in
                let identity = try etcdIdentity()
                let unit = try root.readText(EtcdUnit.path)
                let outcome: OwnMemberRemoval
                do {
                    outcome = try await removeOwnEtcdMember(ip: ip, endpoints: knownEtcdEndpoints(ip: ip, unit: unit, added: lastEtcdMemberAdded()), identity: identity)
                } catch {
                    return refuse("no etcd member answered to remove \(name) through (\(error))", 1)
                }
                var lines: [String] = []
                switch outcome {
                case .lastMember(let member):
                    return refuse("\(member.displayName) is etcd's only member: there is no cluster to leave; a restore runs here ('seed etcd restore FILE')", 2)
                case .wouldLoseQuorum(let member, let remaining, let healthy):
                    return refuse("removing etcd member \(member.displayName) would leave \(remaining) voting members of which \(healthy) answer: no quorum. "
                                  + "Bring the others back first, or restore on a master whose etcd is the only one left", 2)
                case .noHealthyPeer(let member):
                    return refuse("no healthy member to remove etcd member \(member.displayName) through", 1)
                case .notAMember:
                    lines.append("  etcd      \(ip) is not a member of the cluster the others list (it left before)")
                case .removed(let member, let via, let remaining, let healthy):
                    lines.append("  removed   etcd member \(member.displayName) (\(EtcdMembership.hex(member.id))) through \(via); \(remaining) voting members stay, \(healthy) healthy")
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
                          + "Stop the rest by hand (systemctl stop \(Self.restoreStopOrder.joined(separator: " "))), or run '\(command)' again\n")
                    return 1
                }
                if case .notAMember = outcome, stopped.isEmpty {
                    write("\(command): nothing changed: \(name) is not an etcd member, and neither etcd nor the control plane runs here\n")
                    return 0
                }
                lines.append("  stopped   \(stopped.isEmpty ? "nothing (none was running)" : stopped.joined(separator: ", "))")
                write(lines.map { "\($0)\n" }.joined())
                write("\(command): \(name) has left etcd; its data stays in \(unit.flatMap { EtcdUnit.flagValue("--data-dir=", in: $0) } ?? "etcd's data directory") "
                      + "until 'seed etcd rejoin' here moves it aside and joins the cluster again as a new member\n")
                return 0
            }
        } catch {
            return refuse("\(error)", 1)
        }
    }

    /// `seed etcd rejoin`: this master's etcd joins the cluster the other masters' etcd answers for, as a new
    /// member (added as a learner, started on empty directories, promoted once it has caught up), then the
    /// control-plane units that are enabled, not running and have their binary start, and the API server must answer. The
    /// data from before is moved aside (`DIR.before-rejoin-TIME`), kept, and named. A run cut short is
    /// finished by the next; a master that is back already changes nothing.
    /// Exit 0 back, 1 a step failed (said what is left), 2 refused (nothing changed).
    public func rejoinEtcdCluster() async -> Int32 {
        let command = "seed etcd rejoin"
        guard effectiveUID == 0 else { write("\(command): must run as root\n"); return 1 }
        guard let (config, ip, name) = recordedMaster(command) else { return 1 }
        guard let services = effects.services else { write("\(command): nothing changed: \(effects.busError ?? "no systemd bus")\n"); return 1 }
        func refuse(_ why: String, _ code: Int32) -> Int32 {
            write("\(command): nothing changed: \(why)\n")
            return code
        }
        let settings = config.host
        if let why = unmovableEtcdDirectory(settings) { return refuse("\(why); move the data out of it by hand", 2) }
        let started = ContinuousClock.now
        do {
            return try await HostSession.with(root, effects: effects, at: location) { session in
                let identity = try etcdIdentity()
                let own = Self.url(ip, 2379)
                let peers = knownEtcdEndpoints(ip: ip, unit: try root.readText(EtcdUnit.path), added: lastEtcdMemberAdded()).filter { $0 != own }
                guard !peers.isEmpty else {
                    return refuse("no other master is known here (its etcd unit, its join file and its agent name none) to join through", 2)
                }
                let members: [EtcdMember]
                do { members = try await withEtcdClients(peers, identity: identity) { try await $0.list().members } } catch {
                    return refuse("no other master's etcd answers (\(peers.joined(separator: ", "))): restore on one of them first "
                                  + "('seed etcd restore FILE'), then run this again: \(error)", 1)
                }
                let returning = EtcdMembership.returning(ip, members: members)
                let etcdState = try services.unitState("etcd.service")
                if case .absent = returning {
                    if let refusal = EtcdAdmission.refusal(name: name, ip: ip, members: members, at: .join(hostHoldsMember: true)) {
                        return refuse("\(refusal)", 2)
                    }
                    if etcdState.isActive, case .success? = try? await withClient(own, identity: identity, { await Readiness.etcdHealthy($0) }) {
                        return refuse("etcd runs here and answers healthy, but the cluster at \(peers.joined(separator: ", ")) (\(members.map(\.displayName).joined(separator: ", "))) "
                                      + "does not list \(name): it is a member of another cluster. Run 'seed etcd leave' here first", 2)
                    }
                }
                var lines: [String] = []
                var moved: [String] = []
                var keepsData = false
                switch returning {
                case .back: keepsData = true
                case .unfinished(let member): keepsData = member.started
                case .absent: keepsData = false
                }
                do {
                    if !keepsData {
                        if etcdState.isActive {
                            try services.stop("etcd.service")
                            lines.append("stopped etcd.service (the member from before the restore)")
                        }
                        let stamp = EtcdSnapshot.stamp(Date())
                        for directory in [settings.etcdDataDir, settings.etcdWALDir] where !root.list(directory).isEmpty {
                            let aside = "\(directory).before-rejoin-\(stamp)"
                            let mode = root.mode(directory) ?? 0o700
                            try root.move(directory, to: aside)
                            moved.append(aside)
                            try root.makeDirectory(directory, mode: mode)
                        }
                    }
                    let joined = try await addEtcdMember(name: name, ip: ip, config: config, peers: peers, identity: identity, session: session)
                    if joined.state == .changed { lines.append("etcd: \(joined.detail)") }
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
                        write("\(command): nothing changed: \(name) is \(joined.detail)\n")
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
