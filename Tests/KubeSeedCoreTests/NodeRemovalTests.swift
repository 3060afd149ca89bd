import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): which of a node's pods removal evicts, and its requests. The real Eviction
/// API: RealAPIServerTests.
@Suite struct NodeRemovalTests {
    @Test func daemonSetAndStaticPodsGoWithTheNodeTerminatingOnesAreDoneTheRestAreEvicted() throws {
        let list = #"""
        {"kind":"PodList","items":[
          {"metadata":{"name":"web-1","namespace":"default","ownerReferences":[{"kind":"ReplicaSet","name":"web"}]}},
          {"metadata":{"name":"proxy-x","namespace":"kube-system","ownerReferences":[{"kind":"DaemonSet","name":"proxy"}]}},
          {"metadata":{"name":"etcd-m","namespace":"kube-system","annotations":{"kubernetes.io/config.mirror":"abc"}}},
          {"metadata":{"name":"old","namespace":"default","deletionTimestamp":"2026-12-06T10:00:00Z"}},
          {"metadata":{"name":"bare","namespace":"team-a"}}
        ]}
        """#
        let pods = try NodeRemoval.sort(Data(list.utf8))
        #expect(pods.toEvict == [NodeRemoval.Pod("default", "web-1"), NodeRemoval.Pod("team-a", "bare")])
        #expect(pods.terminating == [NodeRemoval.Pod("default", "old")])
        #expect(pods.leftWithNode == [NodeRemoval.Pod("kube-system", "proxy-x"), NodeRemoval.Pod("kube-system", "etcd-m")])
        for bad in ["[]", "{\"items\":[{\"metadata\":{\"name\":\"x\"}}]}", "not json"] {
            #expect(throws: NodeRemoval.AnswerError.self, "\(bad)") { try NodeRemoval.sort(Data(bad.utf8)) }
        }
    }

    @Test func theEvictionGroupFollowsTheVersionAndNamesAreEscaped() throws {
        let pod = NodeRemoval.Pod("default", "web-1")
        for (minor, group) in [(20, "policy/v1beta1"), (21, "policy/v1beta1"), (22, "policy/v1"), (31, "policy/v1")] {
            let request = NodeRemoval.evict(pod, version: KubernetesVersion(major: 1, minor: minor, patch: 0))
            #expect(request.path == "/api/v1/namespaces/default/pods/web-1/eviction")
            let body = try #require(try JSONSerialization.jsonObject(with: request.body ?? Data()) as? [String: Any])
            #expect(body["apiVersion"] as? String == group && body["kind"] as? String == "Eviction")
        }
        #expect(NodeRemoval.cordon("worker-1").contentType == "application/merge-patch+json")
        #expect(NodeRemoval.pods(on: "worker-1").path == "/api/v1/pods?fieldSelector=spec.nodeName%3Dworker-1")
        #expect(NodeRemoval.deleteNode("a/../b").path == "/api/v1/nodes/a%2F..%2Fb")
    }

    @Test func onlyTheNodesOwnTokenSecretsAreNamedAndTheTokenIsNeverRead() throws {
        func secret(_ name: String, _ description: String) -> String {
            #"{"metadata":{"name":"\#(name)"},"data":{"description":"\#(Data(description.utf8).base64EncodedString())","token-secret":"c2VjcmV0"}}"#
        }
        let list = #"{"kind":"SecretList","items":["# + [
            secret("bootstrap-token-aaaaaa", "kubeseed join file for worker-1"), secret("bootstrap-token-bbbbbb", "kubeseed join file for worker-10"),
            secret("bootstrap-token-cccccc", "kubeseed join file for worker-1 "), #"{"metadata":{"name":"bootstrap-token-dddddd"}}"#,
            secret("bootstrap-token-eeeeee", "kubeseed join file for worker-1"),
            secret("not-a-token-name", "kubeseed join file for worker-1"),
        ].joined(separator: ",") + "]}"
        #expect(try NodeRemoval.tokenSecretIDs(for: "worker-1", in: Data(list.utf8)) == ["aaaaaa", "eeeeee"])
        #expect(throws: NodeRemoval.AnswerError.self) { try NodeRemoval.tokenSecretIDs(for: "worker-1", in: Data("{}".utf8)) }
    }
}
