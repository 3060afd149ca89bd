import Foundation
import KubeSeedCore
import KubeSeedHost

extension InitPhase {
    static let masterNode = InitPhase(name: "master as node") { operations, context in
        try await operations.masterAsNode(context)
    }
}

extension MasterOperations {
    /// How long the token in the master's own join file is valid: its kubelet needs it once, to bootstrap.
    static let masterTokenLifetime: TimeInterval = 24 * 3600

    /// Makes this master a node the way every node becomes one: a join file for it (role control-plane)
    /// at the agent's path, then the agent's own pass on it (node preparation, containerd, the API
    /// balancer, kubelet and kube-proxy). The join file is kept while its token is valid, or once the
    /// kubelet has its client certificate; a join file that is not KubeSeed's is never replaced.
    func masterAsNode(_ context: InitContext, now: Date = Date()) async throws -> InitPhase.Result {
        let path = JoinFile.defaultPath
        let clock = ContinuousClock()
        let started = clock.now
        var minted = 0
        // etcd's start or restart waits for this pass: the etcd that runs now, if any, is not the one this run
        // configured (Debian's plaintext one takes seconds to fail a TLS client), and only this master is known.
        let etcdOwed = context.pending.jobs.contains { $0 == .startUnit("etcd.service") || $0 == .restartUnit("etcd.service") }
        let endpoints = etcdOwed ? nil : await knownAPIServerEndpoints()
        if try needsJoinFile(path, host: context.config.host, endpoints: endpoints, journal: context.journal, now: now) {
            var request = JoinRequest(nodeName: context.config.masterName!, nodeIP: context.masterIP, roles: [ControlPlaneSecrets.role],
                                      expires: now.addingTimeInterval(Self.masterTokenLifetime))
            request.host = context.config.host
            request.apiServerEndpoints = endpoints
            let (text, token, _) = try joinFileText(request, path: path, now: now)
            _ = try await writeJoinFile(text, token: token, request: request, path: path, in: context.session)
            minted = 1
        }
        let joinFileDone = clock.now
        var agent = AgentOperations(root: root, effects: effects, settings: context.config.host, effectiveUID: effectiveUID)
        agent.location = location
        let pass = await agent.converge(joinPath: path, now: now, in: context.session, pending: context.pending)
        context.pending = pass.pending
        // A pass that stopped before its components' steps: etcd and the control plane start all the same.
        if !context.pending.isEmpty { try context.session.settle(&context.pending) }
        // A unit this run left to the pass that did not start fails the run, as it would have in its own phase.
        if !pass.failedOwedJobs.isEmpty {
            throw HostError(.systemJob, "with the node's units: \(pass.failedOwedJobs.joined(separator: "; "))")
        }
        let split = "join file \((joinFileDone - started).milliseconds) ms, the agent's pass \((clock.now - joinFileDone).milliseconds) ms"
        let changes = minted + pass.changes
        let performed = pass.output.split(separator: "\n").filter { $0.hasPrefix("  changed  ") }.map { String($0.dropFirst(11)) }
        let changed = performed.isEmpty ? "" : "; " + Self.slowestSteps(performed)
        let summary = "node \(context.config.masterName!) \(context.masterIP)\(minted == 1 ? " (join file \(path) minted)" : ""): \(pass.status.summary); \(split)\(changed)"
        guard pass.status.ready else {
            if pass.retryable { return InitPhase.Result(state: .waiting, detail: summary, changes: changes) }
            throw HostError(.file, "the agent's pass on this master failed", cause: pass.status.summary)
        }
        return InitPhase.Result(state: changes == 0 ? .ok : .changed, detail: summary, changes: changes)
    }

    /// The agent's performed steps (`STEP (N ms)`) as a count, their time, and the three slowest, where a
    /// master's first `seed init` spends its seconds.
    static func slowestSteps(_ performed: [String]) -> String {
        let timed = performed.map { line -> (String, Int) in
            guard line.hasSuffix(" ms)"), let open = line.lastIndex(of: "("), let ms = Int(line[line.index(after: open)...].dropLast(4)) else { return (line, 0) }
            return (line, ms)
        }
        let slowest = timed.sorted { $0.1 > $1.1 }.prefix(3).map(\.0)
        return "\(performed.count) steps in \(timed.map(\.1).reduce(0, +)) ms, the slowest: \(slowest.joined(separator: ", "))"
    }

    /// Whether a new join file is needed at `path` (`MasterJoinFile.decide` over what is there); throws
    /// when someone else's file is there and the agent refuses it.
    func needsJoinFile(_ path: String, host: NodePrepSettings, endpoints: [String]? = nil, journal: ChangeJournal, now: Date) throws -> Bool {
        var found: MasterJoinFile.Found?
        if let data = try root.read(path) {
            var file = MasterJoinFile.Found(isKubeSeeds: journal.recordsWrite(of: data, at: path), join: nil)
            do {
                file.join = try JoinFile.parse(String(decoding: data, as: UTF8.self), file: path, now: now, tokenExpiryMatters: false)
            } catch {
                file.parseError = "\(error)"
            }
            if let join = file.join, join.tokenExpires <= now { file.kubeletBootstrapped = try AgentOperations.kubeletBootstrapped(root: root, caPEM: join.caCertificatePEM, now: now) }
            found = file
        }
        switch MasterJoinFile.decide(found, host: host, endpoints: endpoints, now: now) {
        case .keep: return false
        case .mint: return true
        case .refuse(let why):
            throw HostError(.file, "\(path) is not a join file KubeSeed wrote, and the agent refuses it", cause: "\(why); move it away and run 'seed init' again")
        }
    }
}
