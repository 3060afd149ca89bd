import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

extension MasterOperations {
    /// `seed init`: node preparation, PKI, etcd, the control plane, and (once the API server is up)
    /// the objects TLS bootstrapping needs. Returns the exit code.
    /// - Parameters:
    ///   - only: run just these phases, by command name, in `seed init`'s order (`seed init phase NAME…`).
    ///   - skipping: leave these phases out (`--skip-phases`).
    ///   - command: the command line for messages (`seed pki`, `seed etcd`); `seed init` or `seed init phase` by default.
    public func initialize(_ requested: ClusterConfig, source: String, replaceBinaries: Bool = false,
                           only: [String]? = nil, skipping: [String] = [], command: String? = nil) async -> Int32 {
        let command = command ?? (only == nil ? "seed init" : "seed init phase")
        let phases: [InitPhase]
        do { phases = try InitPhase.select(from: InitPhase.initialization, only: only, skipping: skipping) } catch {
            write("\(command): nothing changed: \(error)\n")
            return 2
        }
        return await run(command, phases, requested, source: source, replaceBinaries: replaceBinaries)
    }

    /// Runs `phases` in order under the host lock with one change journal. Exit codes: 0 done, 1 a phase
    /// failed (every change so far journaled), 2 bad configuration (nothing changed).
    func run(_ command: String, _ phases: [InitPhase], _ requested: ClusterConfig, source: String, replaceBinaries: Bool = false,
             joining: ControlPlaneJoinState? = nil, renewing: CertificateSelection? = nil, upgrading: Bool = false) async -> Int32 {
        let clock = ContinuousClock()
        let started = clock.now
        guard effectiveUID == 0 else { write("\(command): must run as root\n"); return 1 }
        let config: ClusterConfig
        let masterIP: String
        do {
            config = try resolve(requested, source: source, needsName: phases.contains { $0.needsMasterName })
            guard let ip = config.masterIP else {
                throw ConfigError(.missingField, file: source, field: "master.ip", "set master.ip or --master-ip")
            }
            masterIP = ip
            let releaseBound = [InitPhase.binaries, .controlPlane, .masterNode, .record].map(\.name)
            if let refusal = try releaseChangeRefusal(config, source: source, upgrading: upgrading,
                                                      dependsOnRelease: phases.contains { releaseBound.contains($0.name) }) {
                throw refusal
            }
        } catch {
            write("\(command): nothing changed: \(error)\n")
            return 2
        }
        // Moving etcd to a CA of its own takes the PKI, etcd's unit and the API server's together: a
        // selection with one of them and not the others would leave etcd and the API server on different CAs.
        let names = Set(phases.map(\.name))
        if joining == nil, [InitPhase.pki, .etcd, .controlPlane].contains(where: { names.contains($0.name) }),
           let refusal = await legacyEtcdRefusal(command, restartsEtcd: [InitPhase.pki, .etcd, .etcdHealth, .controlPlane].allSatisfy { names.contains($0.name) }) {
            write("\(command): nothing changed: \(refusal)\n")
            return 2
        }
        write("\(command): cluster \(config.name) (\(config.kubernetesVersion)), master \(config.masterName ?? "-") \(masterIP), \(config.keyAlgorithm.displayName) keys\n")
        let progress = PhaseProgress(total: phases.count, write: write)
        let context: InitContext
        do {
            context = try await HostSession.with(root, effects: effects, at: location) { session in
                let context = InitContext(operations: self, config: config, masterIP: masterIP, session: session)
                // The control-plane phase sets it; a run without that phase goes by what runs already.
                context.controlPlaneStarted = !names.contains(InitPhase.controlPlane.name) && apiServerUnitActive()
                context.replaceBinaries = replaceBinaries
                context.joining = joining
                context.renewing = renewing
                context.prefetchedKeys = prefetchKeys(for: phases, config, joining: joining)
                context.phaseNames = phases.map(\.name)
                do {
                    try await PhaseRunner.run(phases, context, report: progress.report)
                } catch {
                    // A phase that deferred may have enabled units before it or a later one stopped: reload for them too.
                    if let failure = error as? PhaseFailure, context.mayOweUnseenReload(failedAt: failure.phase) { context.pending.reload = true }
                    do { try session.settle(&context.pending) } catch {
                        write("\(command): what this run left to the node's phase could not be made: \(error)\n")
                    }
                    throw error
                }
                // A reload and starts a phase left for a later one that did not run (or did not get to them).
                try session.settle(&context.pending)
                return context
            }
        } catch let failure as PhaseFailure where failure.underlying is UpgradeRefusal {
            write("\(command): nothing changed: not \(config.kubernetesVersion) now: \(failure.underlying)\n")
            return 1
        } catch let failure as PhaseFailure {
            write("\(command): stopped at '\(failure.phase)' after \(progress.changes) changes (\(failure.underlying)); every change so far is journaled:\n")
            if upgrading {
                let recorded = ((try? recordedConfig()) ?? nil)?.kubernetesVersion ?? "-"
                write("  the binaries put in place so far are \(config.kubernetesVersion); the record still says \(recorded). Fix the cause and run "
                      + "'\(command)' again to finish; or go back: kubernetesVersion \(recorded) and 'seed init --server-archive OLD-ARCHIVE --replace-binaries'\n")
                if failure.phase != InitPhase.upgradeCheck.name {
                    // Nothing was changed here: the other masters need not wait for this one.
                    if progress.changes == 0 {
                        write("  nothing was changed: \(await releaseUpgradeLeaseOrSay(masterIP, holder: Self.upgradeLeaseHolder(config, masterIP)))\n")
                    } else {
                        write("  this master keeps the upgrade lease (\(UpgradeLease.namespace)/\(UpgradeLease.name)) until a run here finishes, or for \(upgradeLeaseSeconds) s: "
                              + "the other masters' 'seed upgrade apply' wait for it\n")
                    }
                }
            } else if renewing != nil {
                write("  the certificates written so far are in use once their units restart: fix the cause and run 'seed certs renew --due' "
                      + "(or with the same names) again; it restarts what still runs on an older file\n")
            } else {
                write("  fix the cause and run '\(command)' again to finish, or 'seed-agent reset' to undo\n")
            }
            return 1
        } catch let error as HostSession.OpenError {
            write("\(command): nothing changed: \(error)\n")
            return 1
        } catch {
            write("\(command): \(error)\n")
            return 1
        }
        let elapsed = clock.now - started
        let took = "\(progress.changes) changes, \(elapsed.components.seconds).\(elapsed.components.attoseconds / 100_000_000_000_000_000) s"
        if upgrading {
            let state = progress.changes == 0 ? "unchanged" : "done"
            if context.controllersWaiting {
                write("\(command): \(state): this master's API server runs \(config.kubernetesVersion) (\(took)); next: 'seed upgrade apply' on each other master, "
                      + "one at a time, then here again (the controller manager and scheduler move once every API server has)\n")
            } else {
                write("\(command): \(state): this master's control plane runs \(config.kubernetesVersion) (\(took)); once every master has: on every node "
                      + "(a master that is a node too) 'seed-agent install-binaries --replace ARCHIVE --kubernetes-version \(config.kubernetesVersion)'\n")
            }
            return 0
        }
        guard renewing == nil, phases.contains(where: { $0.name == InitPhase.controlPlane.name }) else {
            write("\(command): \(progress.changes == 0 ? "unchanged" : "done") (\(took))\n")
            return 0
        }
        let endpoint = config.apiServerEndpoint ?? ""
        if !context.controlPlaneStarted {
            write("\(command): everything but the control-plane binaries is in place (\(took)).\n")
            write("  Put kube-apiserver, kube-controller-manager and kube-scheduler in \(NodePaths.binDir), or run\n")
            write("  'seed init --server-archive kubernetes-server-linux-amd64.tar.gz'; then mint join files with 'seed join-file NODE'.\n")
        } else if progress.changes == 0 {
            write("\(command): unchanged: control plane ready at \(endpoint) (\(took))\n")
        } else {
            write("\(command): control plane ready at \(endpoint) (\(took)); next: 'seed join-file NODE' for each node\n")
        }
        return 0
    }

    /// Why `config`'s release cannot be used here: a master moves to another release only by `seed upgrade
    /// apply` (one at a time, the skew policy checked), never back, and a run whose phases depend on the
    /// release (binaries, the control plane's flags, the master's node, the record) must be of the release
    /// the master runs. `nil` before the first `seed init`, and for runs that do not (renewals).
    func releaseChangeRefusal(_ config: ClusterConfig, source: String, upgrading: Bool, dependsOnRelease: Bool) throws -> ConfigError? {
        guard upgrading || dependsOnRelease, let recorded = try recordedConfig(), recorded.version != config.version else { return nil }
        if config.version < recorded.version {
            return ConfigError(.invalidValue, file: source, field: "kubernetesVersion",
                               "this master runs \(recorded.version) (recorded in \(ClusterConfig.recordPath)); \(config.version) would be a downgrade: set kubernetesVersion: \(recorded.version)")
        }
        guard !upgrading else { return nil }
        return ConfigError(.invalidValue, file: source, field: "kubernetesVersion",
                           "this master runs \(recorded.version) (recorded in \(ClusterConfig.recordPath)), not \(config.version): 'seed upgrade apply --server-archive FILE' moves it")
    }

    /// The PKI's new keys, started on other threads when phases run before the pki phase (node preparation
    /// waits mostly on the kernel and systemd). Not on a joining master: its CAs and service-account key
    /// come from the cluster, so what is missing is known only after the shared-secrets phase.
    func prefetchKeys(for phases: [InitPhase], _ config: ClusterConfig, joining: ControlPlaneJoinState?) -> PrefetchedKeys? {
        guard joining == nil, let pki = phases.firstIndex(where: { $0.name == InitPhase.pki.name }), pki > 0 else { return nil }
        var store = PKIStore(root: root)
        store.directory = certDirectory
        guard let count = try? store.missingKeyCount(PKIParameters(config)), count > 0 else { return nil }
        return PrefetchedKeys(config.keyAlgorithm, count: count)
    }

    /// Whether kube-apiserver's unit is active (a run that does not start the control plane itself).
    func apiServerUnitActive() -> Bool {
        (try? effects.services?.unitState(ControlPlane.unitNames[0]).isActive) == true
    }

    /// Whether kube-apiserver's unit (known to systemd, or KubeSeed's file not reloaded yet: `seed init`
    /// starts it with the node's units) is neither running nor starting (`false` when there is no such unit
    /// or no systemd to ask: an API server may run another way).
    func apiServerUnitStopped() -> Bool {
        let unit = ControlPlane.unitNames[0]
        guard let state = try? effects.services?.unitState(unit), state.exists || root.exists("/etc/systemd/system/\(unit)") else { return false }
        return !state.isActive
    }

    /// Why this master's PKI, made before etcd had a CA of its own, cannot be moved to one by this run
    /// (`nil` when it is not that old, or etcd has this one member and the pki phase moves it in place).
    /// With several members each would have to trust the new CA before any presents it; KubeSeed moves
    /// one member only, so the others leave first and join again.
    /// - Parameter restartsEtcd: whether the run also writes etcd's and the API server's units (`seed init`), as the move needs.
    func legacyEtcdRefusal(_ command: String, restartsEtcd: Bool) async -> String? {
        var store = PKIStore(root: root)
        store.directory = certDirectory
        guard (try? store.legacyEtcdLayout()) == true else { return nil }
        let old = "this master's etcd trusts the cluster CA, which also signs every kubelet's certificate (a cluster made before KubeSeed gave etcd a CA of its own)"
        guard restartsEtcd else { return "\(old); run 'seed init': it moves etcd to a CA of its own and restarts etcd and the API server with it" }
        let members: [EtcdMember]
        do { members = try await localEtcdMembers() } catch {
            return "\(old); moving it needs etcd running to count its members, and it does not answer (\(error)): start it ('systemctl start etcd') and run '\(command)' again"
        }
        guard members.count > 1 else { return nil }
        let own = (try? recordedConfig())??.masterIP ?? ""
        let others = members.filter { !$0.hasPeer(ip: own) }.map { "\($0.displayName) (\($0.peerHost ?? "?"))" }
        return "\(old), and etcd has \(members.count) members. Move it member by member: "
            + "1. on \(others.joined(separator: " and ")): 'seed-agent reset' (each leaves etcd; move its etcd data directory away after); "
            + "2. here: '\(command)' again (etcd gets a CA of its own and new certificates, its data kept); "
            + "3. for each of them, here: 'seed join-file NAME --ip IP --role control-plane', and there: 'seed join FILE'"
    }

}
