import Foundation

/// What `seed-agent status` shows: written by the running agent to /run/kubeseed/status.json.
public struct AgentStatus: Codable, Sendable, Equatable {
    public static let defaultPath = "/run/kubeseed/status.json"
    /// Root's alone: the reasons describe the join file.
    public static let fileMode: UInt16 = 0o600

    public struct Check: Codable, Sendable, Equatable {
        public var name: String
        /// ok, waiting (something the operator must provide), or failed.
        public var state: String
        public var reason: String
        public init(_ name: String, _ state: String, _ reason: String) {
            self.name = name
            self.state = state
            self.reason = reason
        }
    }

    /// True when the node is prepared and every component that can run is active.
    public var ready: Bool
    public var summary: String
    public var updated: String
    public var checks: [Check]

    public init(ready: Bool, summary: String, updated: String, checks: [Check]) {
        self.ready = ready
        self.summary = summary
        self.updated = updated
        self.checks = checks
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }

    public func table() -> String {
        let width = max(5, checks.map(\.name.count).max() ?? 0)
        var out = "\(ready ? "READY" : "NOT READY"): \(summary)\n"
        out += "CHECK".padding(toLength: width, withPad: " ", startingAt: 0) + "  STATE    REASON\n"
        for check in checks {
            out += check.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + check.state.padding(toLength: 7, withPad: " ", startingAt: 0) + "  " + check.reason + "\n"
        }
        return out
    }
}

extension AgentStatus {
    /// The units the agent runs, each with the binary it waits for (none: the package's own).
    public static let components: [(unit: String, binary: String)] = ([(ComponentPlanner.containerd, ""), (APIBalancer.unit, "")] + ComponentPlanner.kubernetesUnits)
        .map { (unit: $0.0, binary: $0.1) }

    /// The status after a pass that planned `plan`: every component's state as systemd reports it now
    /// (`unitStates`), a unit whose binary is missing `waiting`, not failed.
    public static func afterPass(_ join: JoinFile, _ node: NodeIdentity, _ plan: NodePlan, unitStates states: [String: UnitState], stamp: String) -> AgentStatus {
        var checks = [
            Check("join file", "ok", "cluster \(join.clusterName) at \(join.apiServerEndpoints.joined(separator: ", ")); token \(join.token.id) expires \(Timestamp.string(join.tokenExpires))"),
            Check("node", "ok", "\(node.name) \(node.ip)"),
            Check("node preparation", "ok", "modules, sysctls, swap, SELinux, time, directories as planned"),
        ]
        var ready = true
        var waiting: [String] = []
        for (unit, binary) in components {
            let state = states[unit]
            let active = state?.activeState == "active"
            let planned = plan.items.first { $0.name == unit }
            if !binary.isEmpty, planned?.state == .warn {
                // The plan's detail says what this pass was going to do; the status says how things are now.
                checks.append(Check(unit, "waiting", "\(state?.unitFileState ?? "unknown"); binary missing: put \(binary) in \(NodePaths.binDir)"))
                waiting.append(binary)
            } else if active {
                checks.append(Check(unit, "ok", "\(state!.unitFileState), \(state!.activeState) (\(state!.subState))"))
            } else {
                ready = false
                checks.append(Check(unit, "failed", state.map { "\($0.activeState) (\($0.subState)); see journalctl -u \(unit)" } ?? "unknown state"))
            }
        }
        let summary = ready
            ? "node prepared, containerd and the API balancer active" + (waiting.isEmpty ? ", kubelet and kube-proxy active" : "; \(waiting.joined(separator: ", ")) waiting for binaries in \(NodePaths.binDir)")
            : "components not active: " + checks.filter { $0.state == "failed" }.map(\.name).joined(separator: ", ")
        return AgentStatus(ready: ready, summary: summary, updated: stamp, checks: checks)
    }
}
