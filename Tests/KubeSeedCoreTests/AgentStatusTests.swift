import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): the agent's status after a pass, from the plan and the units' states.
@Suite struct AgentStatusTests {
    static func join() throws -> JoinFile {
        var cluster = ClusterConfig()
        cluster.masterIP = "192.0.2.10"
        let text = JoinFile.render(cluster: cluster, caPEM: try golden("test-ca.pem"), token: BootstrapToken("abcdef.0123456789abcdef")!,
                                   request: JoinRequest(nodeName: "worker-1", nodeIP: "192.0.2.11", expires: Date().addingTimeInterval(3600)))
        return try JoinFile.parse(text, file: "join.yaml")
    }

    static let active = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled")
    static let failed = UnitState(loadState: "loaded", activeState: "failed", subState: "failed", unitFileState: "enabled")

    @Test func readyWithKubeletWaitingForItsBinaryNotReadyWhenContainerdIsDown() throws {
        let node = NodeIdentity(name: "worker-1", ip: "192.0.2.11")
        // The kubelet's binary is missing: the plan says so (warn), and the status says waiting, not failed.
        let plan = NodePlan(items: [PlanItem(ComponentPlanner.kubelet, .warn, "binary missing")])
        var states = Dictionary(uniqueKeysWithValues: AgentStatus.components.map { ($0.unit, Self.active) })
        states[ComponentPlanner.kubelet] = UnitState(loadState: "loaded", unitFileState: "enabled")
        let waiting = AgentStatus.afterPass(try Self.join(), node, plan, unitStates: states, stamp: "now")
        #expect(waiting.ready)
        #expect(waiting.checks.first { $0.name == ComponentPlanner.kubelet }?.state == "waiting")
        #expect(waiting.summary.contains("kubelet waiting for binaries in \(NodePaths.binDir)"))

        states[ComponentPlanner.containerd] = Self.failed
        let down = AgentStatus.afterPass(try Self.join(), node, plan, unitStates: states, stamp: "now")
        #expect(!down.ready)
        #expect(down.summary == "components not active: \(ComponentPlanner.containerd)")
        #expect(down.checks.first { $0.name == ComponentPlanner.containerd }?.reason.contains("journalctl -u \(ComponentPlanner.containerd)") == true)

        let unknown = AgentStatus.afterPass(try Self.join(), node, NodePlan(items: []), unitStates: [:], stamp: "now")
        #expect(!unknown.ready && unknown.checks.filter { $0.state == "failed" }.count == AgentStatus.components.count)
    }
}
