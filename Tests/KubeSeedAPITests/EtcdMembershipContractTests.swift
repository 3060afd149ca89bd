import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import KubeSeedAPI
@testable import KubeSeedCore

/// Contract tests of etcd membership (`seed join`, `seed-agent reset` on a master) against the
/// mutual-TLS test server playing etcd's v3 JSON gateway: the exact requests, a promote retried
/// while the learner catches up, and errors carried with etcd's own message. Real etcd answers the
/// same calls in the three-master VM run.
@Suite struct EtcdMembershipContractTests {
    static let members = #"{"header":{},"members":[{"ID":"11","name":"master-1","peerURLs":["https://192.0.2.11:2380"],"clientURLs":["https://192.0.2.11:2379"]}]}"#

    @Test func aMasterIsAddedAsALearnerAndPromotedOnceEtcdSaysItCaughtUp() async throws {
        let promotes = NIOLockedValueBox(0)
        try await ContractTests().withServer(try ContractTests.PKI(), responder: { request in
            switch request.uri {
            case "/v3/cluster/member/list": return (200, Self.members)
            case "/v3/cluster/member/add":
                return (200, #"{"header":{},"member":{"ID":"18446744073709551614","peerURLs":["https://192.0.2.12:2380"],"isLearner":true},"members":[]}"#)
            case "/v3/cluster/member/promote":
                let count = promotes.withLockedValue { $0 += 1; return $0 }
                return count < 3 ? (500, #"{"error":"etcdserver: can only promote a learner member which is in sync with leader","code":9}"#) : (200, "{}")
            default: return (404, "{}")
            }
        }) { server, client in
            let cluster = EtcdClusterClient(clients: [client])
            let (members, via) = try await cluster.list()
            #expect(members.map(\.name) == ["master-1"] && via === client)
            let added = try await EtcdClusterClient.addLearner(peerURL: "https://192.0.2.12:2380", via: client)
            #expect(added.id == UInt64.max - 1 && added.isLearner && !added.started)
            try await cluster.promote(added.id, preferring: via, limit: .seconds(60), interval: .milliseconds(10))
            let sent = server.requests
            #expect(sent.map(\.uri) == ["/v3/cluster/member/list", "/v3/cluster/member/add"] + Array(repeating: "/v3/cluster/member/promote", count: 3))
            #expect(sent.allSatisfy { $0.method == "POST" && $0.contentType == "application/json" && $0.clientCertificateDER != nil })
            #expect(sent[1].json == ["peerURLs": ["https://192.0.2.12:2380"], "isLearner": true])
            #expect(sent[2].json == ["ID": "18446744073709551614"])
        }
    }

    @Test func aPromoteEtcdRefusesForAnotherReasonFailsAtOnceWithEtcdsMessage() async throws {
        try await ContractTests().withServer(try ContractTests.PKI(), responder: { _ in
            (400, #"{"error":"etcdserver: member not found","code":5}"#)
        }) { server, client in
            await #expect(throws: APIError.self) { try await EtcdClusterClient(clients: [client]).promote(7, limit: .seconds(60), interval: .milliseconds(10)) }
            #expect(server.requests.count == 1)
            do {
                try await EtcdClusterClient.remove(7, via: client)
                Issue.record("remove succeeded")
            } catch let error as APIError {
                #expect(error.description.contains("member not found") && error.description.contains("etcd member remove 7"))
            }
            #expect(server.requests.last?.json == ["ID": "7"])
        }
    }

    @Test func aPromoteThroughAMemberThatDoesNotAnswerIsAskedAgainThroughTheNext() async throws {
        let pki = try ContractTests.PKI()
        try await ContractTests().withServer(pki, responder: { _ in (200, "{}") }) { server, client in
            let closed = try MutualTLSClient(baseURL: "https://127.0.0.1:1", identity: pki.adminIdentity, connectTimeout: .milliseconds(300))
            try await EtcdClusterClient(clients: [client, closed]).promote(9, preferring: closed, limit: .seconds(60), interval: .milliseconds(10))
            #expect(server.requests.map(\.uri) == ["/v3/cluster/member/promote"] && server.requests.first?.json == ["ID": "9"])
            // Nobody answers: the last failure, once the limit has passed.
            await #expect(throws: APIError.self) {
                try await EtcdClusterClient(clients: [closed]).promote(9, limit: .milliseconds(200), interval: .milliseconds(10))
            }
            await closed.shutdown()
        }
    }

    @Test func aPromoteEtcdSaysWasAlreadyDoneCountsAsDone() async throws {
        try await ContractTests().withServer(try ContractTests.PKI(), responder: { _ in
            (400, #"{"error":"etcdserver: can only promote a learner member","code":9}"#)
        }) { server, client in
            try await EtcdClusterClient(clients: [client]).promote(9, limit: .seconds(60), interval: .milliseconds(10))
            #expect(server.requests.count == 1)
        }
        #expect(EtcdMembership.alreadyVoter("etcdserver: can only promote a learner member"))
        #expect(!EtcdMembership.alreadyVoter("etcdserver: can only promote a learner member which is in sync with leader"))
        #expect(EtcdMembership.learnerNotReady("etcdserver: can only promote a learner member which is in sync with leader"))
    }

    @Test func theListComesFromTheFirstMemberThatAnswers() async throws {
        let pki = try ContractTests.PKI()
        try await ContractTests().withServer(pki, responder: { _ in (200, Self.members) }) { server, client in
            // A member that refuses connections first (a closed port on loopback), then the test server.
            let closed = try MutualTLSClient(baseURL: "https://127.0.0.1:1", identity: pki.adminIdentity, connectTimeout: .milliseconds(300))
            let (members, via) = try await EtcdClusterClient(clients: [closed, client]).list()
            #expect(members.count == 1 && via === client)
            await #expect(throws: APIError.self) { try await EtcdClusterClient(clients: [closed]).list() }
            await closed.shutdown()
        }
    }
}
