import Foundation
import KubeSeedCore
import KubeSeedHost

extension AgentOperations {
    /// The outcome of one pass of the agent over the join file.
    public struct Convergence {
        public var status: AgentStatus
        public var output: String
        /// Host changes made in this pass (0 on an unchanged pass).
        public var changes: Int
        /// A failure that may pass by itself (a unit that did not start): worth a restart of the
        /// agent. Join-file problems are not: the agent waits for the file to change instead.
        public var retryable = false
        /// A daemon-reload and starts still owed when the pass ended (it stopped before its components' steps).
        public var pending = PendingActivation()
        /// The caller's owed starts that the pass made and that did not end `done`, each with why.
        public var failedOwedJobs: [String] = []
        /// Another KubeSeed command held the host lock: nothing was done, and a pass once it lets go may pass.
        public var lockHeld = false

        /// A pass that stopped at `name` for `reason`, after `output` and `changes`, still owing `pending`.
        static func failed(_ name: String, _ reason: String, stamp: String, retryable: Bool, output: String = "", changes: Int = 0,
                           pending: PendingActivation = PendingActivation()) -> Convergence {
            Convergence(status: AgentStatus(ready: false, summary: "\(name): \(reason)", updated: stamp,
                                            checks: [AgentStatus.Check(name, "failed", reason)]),
                        output: output + "seed-agent: \(name): \(reason)\n", changes: changes, retryable: retryable, pending: pending)
        }
    }

    /// Reads and validates the join file: owner root (when `effectiveUID` is root), not group/world-accessible, size-bounded.
    public static func loadJoinFile(root: HostRoot, path: String, effectiveUID: UInt32, now: Date = Date()) throws -> JoinFile {
        // Opened without following a link, and every check made on the open file: nothing can be swapped
        // in between. A link would let whoever can write its directory point root's agent at any file;
        // the join file is copied into place, so only a regular file is taken.
        guard let file = try root.openWithoutFollowing(path, limit: YAMLField.maxBytes) else {
            throw ConfigError(.unreadable, file: path, "no join file here; mint one on the master with 'seed join-file NODE'")
        }
        switch file.kind {
        case .symbolicLink: throw ConfigError(.permissions, file: path, "is a symbolic link; copy the join file itself here (root, 0600)")
        case .other: throw ConfigError(.unreadable, file: path, "is not a regular file")
        case .regular: break
        }
        if file.mode & 0o077 != 0 {
            throw ConfigError(.permissions, file: path, "mode \(String(file.mode & 0o777, radix: 8)) lets others read the bootstrap token; run: chmod 600 \(path)")
        }
        if file.owner != 0 && effectiveUID == 0 {
            throw ConfigError(.permissions, file: path, "owned by uid \(file.owner), not root; run: chown root:root \(path)")
        }
        guard let data = file.data, data.count <= YAMLField.maxBytes else {
            throw ConfigError(.tooLarge, file: path, "file is \(file.size) bytes; the limit is \(YAMLField.maxBytes)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(.unreadable, file: path, "not UTF-8 text")
        }
        do {
            let join = try JoinFile.parse(text, file: path, now: now)
            try refuseControlPlaneJoin(join, path: path)
            return join
        } catch let error as ConfigError where error.field == "bootstrap.expires" {
            // The token is needed once, for the kubelet's first client certificate; after that (a reboot a
            // week later) an expired token must not stop the agent from keeping the node as it is.
            let join = try JoinFile.parse(text, file: path, now: now, tokenExpiryMatters: false)
            try refuseControlPlaneJoin(join, path: path)
            guard try kubeletBootstrapped(root: root, caPEM: join.caCertificatePEM, now: now) else { throw error }
            return join
        }
    }

    /// A control-plane join file makes a master (`seed join`); the agent acting on it would make a
    /// node that only looks like one.
    static func refuseControlPlaneJoin(_ join: JoinFile, path: String) throws {
        guard let secrets = join.controlPlane else { return }
        throw ConfigError(.invalidValue, file: path, field: "controlPlane", line: secrets.line,
                          "this is a master's join file: run 'seed join \(path)' with its certificate key, and move it away from the agent's path")
    }

    /// Whether the kubelet holds a valid client certificate from the cluster CA: a join file's token is
    /// no longer needed.
    static func kubeletBootstrapped(root: HostRoot, caPEM: String, now: Date) throws -> Bool {
        KubeletCredential.isValid(try root.readText(NodePaths.kubeletClientCertificate), caPEM: caPEM, now: now)
    }

    /// The node's name and IP: from the join file, else the host name and the default-route address.
    func nodeIdentity(_ join: JoinFile, _ observed: NodeObservation, joinPath: String) throws -> NodeIdentity {
        let hostname = ((try? root.readText("/proc/sys/kernel/hostname")) ?? nil) ?? ""
        let name = join.nodeName ?? hostname.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard JoinFile.isValidNodeName(name) else {
            throw ConfigError(.invalidValue, file: joinPath, field: "node.name",
                              "the host name '\(name)' is not a valid node name; set node.name in the join file")
        }
        guard let ip = join.nodeIP ?? observed.defaultRoute?.address else {
            throw ConfigError(.missingField, file: joinPath, field: "node.ip",
                              "no default route to take the node IP from (\(observed.routeError ?? "none")); set node.ip in the join file")
        }
        return NodeIdentity(name: name, ip: ip)
    }

    /// One full pass: validate the join file, then the phases of `AgentPhase.pass` in one session (node
    /// identity, node preparation, components, images), and the status. Nothing changes on the host when
    /// the join file is invalid. `session`: the caller's (`seed init` making its master a node); one is
    /// opened for the whole pass when `nil`.
    /// - Parameter pending: a daemon-reload the caller owes (unit files it wrote) and the starts that follow
    ///   it, folded into the pass's own reload and batch of starts.
    public func converge(joinPath: String = JoinFile.defaultPath, now: Date = Date(), in session: HostSession? = nil,
                         pending: PendingActivation = PendingActivation()) async -> Convergence {
        let stamp = Timestamp.string(now)
        func failed(_ name: String, _ reason: String, retryable: Bool) -> Convergence {
            .failed(name, reason, stamp: stamp, retryable: retryable, pending: pending)
        }
        let clock = ContinuousClock()
        let reading = clock.now
        var join: JoinFile
        do { join = try Self.loadJoinFile(root: root, path: joinPath, effectiveUID: effectiveUID, now: now) } catch {
            return failed("join file", "\(error); nothing changed", retryable: Self.isRetryable(error))
        }
        // Before the phases: the join file read and checked, and (below) the session opened.
        let before = ["join file \((clock.now - reading).milliseconds) ms"]
        let kept = apiServers(join)
        join.fallbackAPIServerEndpoints = join.apiServerEndpoints.filter { !kept.contains($0) }
        join.apiServerEndpoints = kept
        var prep = self
        prep.settings = join.host
        prep.settings.addDirectories(NodeComponents.directories(join))
        // One session for the whole pass: observation, node preparation and components.
        guard let session else {
            let opening = clock.now
            do {
                return try await HostSession.with(root, effects: effects, at: location) { session in
                    let opened = ["session \((clock.now - opening).milliseconds) ms"]
                    return await prep.pass(AgentPass(operations: prep, join: join, joinPath: joinPath, session: session, pending: pending),
                                           stamp: stamp, before: before + opened)
                }
            } catch let error as HostSession.OpenError where error.part == .lock {
                var busy = failed("lock", "\(error)", retryable: error.isRetryable)
                busy.lockHeld = error.isRetryable
                return busy
            } catch {
                return failed("journal", "\(error); nothing changed", retryable: Self.isRetryable((error as? HostSession.OpenError)?.underlying ?? error))
            }
        }
        return await prep.pass(AgentPass(operations: prep, join: join, joinPath: joinPath, session: session, pending: pending),
                               stamp: stamp, before: before)
    }

    /// The phases after the join file was read, and the status they leave; `self` holds the join file's node preparation.
    /// `before`: the times of what came before the phases, for the phases line.
    private func pass(_ pass: AgentPass, stamp: String, before: [String]) async -> Convergence {
        var times = before
        do {
            try await PhaseRunner.run(AgentPhase.pass, pass) { _, phase, _, elapsed in times.append("\(phase.name) \(elapsed.milliseconds) ms") }
            pass.output += Self.phaseTimesLine(times)
        } catch {
            pass.output += Self.phaseTimesLine(times)
            let underlying = (error as? PhaseFailure)?.underlying ?? error
            let failure = underlying as? AgentPassFailure
                ?? AgentPassFailure((error as? PhaseFailure)?.phase ?? "pass", "\(underlying)", retryable: Self.isRetryable(underlying))
            var failed = Convergence.failed(failure.name, failure.reason, stamp: stamp, retryable: failure.retryable, output: pass.output,
                                            changes: pass.changes, pending: pass.pending)
            failed.failedOwedJobs = pass.failedOwedJobs
            return failed
        }
        guard let plan = pass.plan, let node = pass.node else {
            return .failed("components", "no plan", stamp: stamp, retryable: true, output: pass.output, changes: pass.changes, pending: pass.pending)
        }
        let units = AgentStatus.components.map(\.unit)
        var status = AgentStatus.afterPass(pass.join, node, plan, unitStates: (try? effects.services?.unitStates(units)) ?? [:], stamp: stamp)
        var retryable = !status.ready
        switch pass.images {
        case .success(let outcome) where outcome.refused.isEmpty:
            status.checks.append(AgentStatus.Check("images", "ok", outcome.summary))
        case .success(let outcome):
            // A bad archive needs the operator: the agent waits for the directory to change.
            status.checks.append(AgentStatus.Check("images", "failed", outcome.summary))
            if status.ready { retryable = false }
            status.ready = false
            status.summary = "images: " + outcome.summary
        case .failure(let error):
            status.checks.append(AgentStatus.Check("images", "failed", "containerd could not be asked: \(error)"))
            status.ready = false
            status.summary = "images: containerd could not be asked: \(error)"
            retryable = true
        case nil:
            break
        }
        return Convergence(status: status, output: pass.output, changes: pass.changes, retryable: retryable, pending: pass.pending)
    }

    /// Where a pass's time went, after its `  changed  …` lines (the summary line stays the last).
    static func phaseTimesLine(_ times: [String]) -> String {
        "seed-agent: phases: " + times.joined(separator: ", ") + "\n"
    }

    /// Files the journal says KubeSeed created under `directory` that still hold what KubeSeed wrote (an
    /// operator's edit since makes a file theirs: it is never removed).
    static func ownedFiles(in journal: ChangeJournal, under directory: String, root: HostRoot) -> Set<String> {
        var owned = Set<String>()
        for case .file(let path, nil, _) in journal.records where path.hasPrefix(directory + "/") {
            guard let data = try? root.read(path), journal.recordsWrite(of: data, at: path) else { continue }
            owned.insert(path)
        }
        return owned
    }

    /// Whether a pass that failed with `error` may succeed by itself later (worth a restart of the agent):
    /// the error says so. A configuration error needs an edit, which the agent waits for instead.
    static func isRetryable(_ error: any Error) -> Bool {
        switch error {
        case let error as HostError: return error.isRetryable
        case is ConfigError: return false
        default: return true
        }
    }

    /// Writes the status file read by `seed-agent status`. Its reasons quote the agent's errors, which
    /// withhold every join-file value; it is still root's alone (0600), like the join file it reports on.
    public func writeStatus(_ status: AgentStatus, path: String = AgentStatus.defaultPath) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !root.isDirectory(directory) { try root.makeDirectory(directory, mode: 0o755) }
        try root.writeAtomically(path, status.encoded(), mode: AgentStatus.fileMode)
    }
}
