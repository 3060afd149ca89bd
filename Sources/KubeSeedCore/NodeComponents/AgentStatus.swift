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
