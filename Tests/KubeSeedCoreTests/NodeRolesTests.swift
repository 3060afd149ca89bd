import Foundation
import Testing
@testable import KubeSeedCore

/// Role labels and the control-plane taint, pure: the merge patch for a Node as the API returns it.
@Suite struct NodeRolesTests {
    func node(labels: [String: String] = [:], taints: [[String: String]] = [], version: String = "42") -> [String: Any] {
        ["metadata": ["name": "n", "resourceVersion": version, "labels": labels], "spec": ["taints": taints]]
    }

    func decoded(_ data: Data?) throws -> [String: Any] {
        let bytes = try #require(data)
        return try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
    }

    @Test func aWorkerGetsItsRoleLabelGuardedByItsVersionAndNoTaint() throws {
        let patch = try decoded(NodeRoles.patch(node: node(labels: ["kubernetes.io/hostname": "n"]), roles: ["worker"]))
        let metadata = try #require(patch["metadata"] as? [String: Any])
        #expect(metadata["labels"] as? [String: String] == ["node-role.kubernetes.io/worker": ""])
        #expect(metadata["resourceVersion"] as? String == "42")
        #expect(patch["spec"] == nil)
    }

    @Test func aControlPlaneNodeIsTaintedAndKeepsTheTaintsItHas() throws {
        let existing = ["key": "example.com/gpu", "effect": "NoExecute"]
        let patch = try decoded(NodeRoles.patch(node: node(taints: [existing]), roles: ["control-plane"]))
        let taints = try #require((patch["spec"] as? [String: Any])?["taints"] as? [[String: String]])
        #expect(taints == [existing, ["key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"]])
    }

    @Test func aNodeThatHasItAllIsLeftAlone() {
        let done = node(labels: ["node-role.kubernetes.io/control-plane": ""],
                        taints: [["key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"]])
        #expect(NodeRoles.patch(node: done, roles: ["control-plane"]) == nil)
        #expect(NodeRoles.patch(node: node(labels: ["node-role.kubernetes.io/worker": ""]), roles: ["worker"]) == nil)
    }

    @Test func theMasterIsAControlPlaneNodeInTheAddressBook() {
        var cluster = ClusterConfig()
        cluster.masterName = "master-1"
        cluster.masterIP = "192.0.2.10"
        var worker = JoinFile(token: BootstrapToken("abcdef.0123456789abcdef")!, tokenExpires: Date())
        worker.nodeName = "worker-1"
        worker.nodeIP = "192.0.2.11"
        worker.roles = ["worker", "ingress"]
        let book = AddressBook(cluster: cluster, minted: [MintedJoin(join: worker, minted: Date())])
        #expect(book.roles == ["master-1": ["control-plane"], "worker-1": ["ingress", "worker"]])
        #expect(book.nodes == ["worker-1": "192.0.2.11"] && book.masters == ["master-1": "192.0.2.10"])
    }
}
