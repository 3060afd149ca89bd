import Foundation
import Testing
@testable import KubeSeedCore

/// etcd membership rules, pure: reading the JSON gateway's answers, the quorum rule for a master
/// leaving, the `--initial-cluster` of a joining member, and the API servers a join file lists.
@Suite struct EtcdMembershipTests {
    static let listAnswer = """
    {"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","raft_term":"2"},
     "members":[
       {"ID":"10276657743932975437","name":"master-1","peerURLs":["https://192.0.2.11:2380"],"clientURLs":["https://192.0.2.11:2379"]},
       {"ID":"18446744073709551615","name":"master-2","peerURLs":["https://192.0.2.12:2380"],"clientURLs":["https://192.0.2.12:2379"]},
       {"ID":"42","peerURLs":["https://192.0.2.13:2380"],"isLearner":true}]}
    """

    func member(_ id: UInt64, _ ip: String, learner: Bool = false, started: Bool = true) -> EtcdMember {
        EtcdMember(id: id, name: started ? "m\(id)" : "", peerURLs: [IPAddress.httpsURL(ip, port: 2380)], clientURLs: started ? [IPAddress.httpsURL(ip, port: 2379)] : [], isLearner: learner)
    }

    @Test func theGatewaysListIsReadWithIDsAsDecimalStringsLearnersAndUnstartedMembers() throws {
        let members = try EtcdMembership.members(in: Data(Self.listAnswer.utf8))
        #expect(members.map(\.id) == [10276657743932975437, UInt64.max, 42])
        #expect(members.map(\.name) == ["master-1", "master-2", ""])
        #expect(members.map(\.isLearner) == [false, false, true])
        #expect(members[2].started == false && members[0].started)
        #expect(members[1].hasPeer(ip: "192.0.2.12") && !members[1].hasPeer(ip: "192.0.2.1"))
        #expect(throws: EtcdMembership.AnswerError.self) { try EtcdMembership.members(in: Data("[]".utf8)) }
        #expect(throws: EtcdMembership.AnswerError.self) { try EtcdMembership.members(in: Data(#"{"members":[{"name":"x"}]}"#.utf8)) }
    }

    @Test func requestsCarryIDsAsDecimalStringsAndAddsAreLearners() throws {
        let add = EtcdMembership.addLearnerRequest(peerURL: "https://192.0.2.13:2380")
        #expect(add.path == "/v3/cluster/member/add" && add.method == .post)
        #expect(String(decoding: add.body!, as: UTF8.self) == #"{"isLearner":true,"peerURLs":["https:\/\/192.0.2.13:2380"]}"#)
        #expect(String(decoding: EtcdMembership.promoteRequest(id: UInt64.max).body!, as: UTF8.self) == #"{"ID":"18446744073709551615"}"#)
        #expect(EtcdMembership.removeRequest(id: 255).object == "etcd member remove ff")
    }

    @Test func aMasterLeavesOnlyWhenTheVotersThatStayAndAnswerAreAMajorityOfThem() {
        let three = [member(1, "192.0.2.11"), member(2, "192.0.2.12"), member(3, "192.0.2.13")]
        #expect(EtcdMembership.removal(of: "192.0.2.13", members: three, healthyIDs: [1, 2, 3]) == .safe(three[2], remaining: 2, healthy: 2))
        // master-1 down: master-3 leaving would leave {1, 2} with only 2 answering.
        #expect(EtcdMembership.removal(of: "192.0.2.13", members: three, healthyIDs: [2, 3]) == .wouldLoseQuorum(three[2], remaining: 2, healthy: 1))
        let two = Array(three.prefix(2))
        #expect(EtcdMembership.removal(of: "192.0.2.12", members: two, healthyIDs: [1]) == .safe(two[1], remaining: 1, healthy: 1))
        #expect(EtcdMembership.removal(of: "192.0.2.12", members: two, healthyIDs: []) == .wouldLoseQuorum(two[1], remaining: 1, healthy: 0))
        #expect(EtcdMembership.removal(of: "192.0.2.11", members: [three[0]], healthyIDs: []) == .lastMember(three[0]))
        #expect(EtcdMembership.removal(of: "192.0.2.99", members: three, healthyIDs: [1, 2, 3]) == .notAMember)
        // A learner never votes: its leaving is always safe, and learners left behind do not count.
        let withLearner = two + [member(3, "192.0.2.13", learner: true, started: false)]
        #expect(EtcdMembership.removal(of: "192.0.2.13", members: withLearner, healthyIDs: []) == .safe(withLearner[2], remaining: 2, healthy: 0))
        #expect(EtcdMembership.removal(of: "192.0.2.12", members: withLearner, healthyIDs: [1, 3]) == .safe(withLearner[1], remaining: 1, healthy: 1))
        // Five members, one leaving: four stay and three of them must answer.
        let five = (1...5).map { member(UInt64($0), "192.0.2.\(10 + $0)") }
        #expect(EtcdMembership.removal(of: "192.0.2.15", members: five, healthyIDs: [1, 2, 5]) == .wouldLoseQuorum(five[4], remaining: 4, healthy: 2))
        #expect(EtcdMembership.removal(of: "192.0.2.15", members: five, healthyIDs: [1, 2, 3, 5]) == .safe(five[4], remaining: 4, healthy: 3))
    }

    /// `seed certs renew` restarts its etcd only while the other voters that answer are a majority of all
    /// voters: two masters renewing at once (their timers) must not take two of three members down.
    @Test func aMemberRestartsOnlyWhileTheOthersThatAnswerAreAMajorityOfAllVoters() {
        let three = [member(1, "192.0.2.11"), member(2, "192.0.2.12"), member(3, "192.0.2.13")]
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.13", members: three, healthyIDs: [1, 2, 3]) == nil)
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.13", members: three, healthyIDs: [1, 2]) == nil)
        let refusal = EtcdMembership.restartRefusal(of: "192.0.2.13", members: three, healthyIDs: [2, 3])
        #expect(refusal?.contains("leaves 1 of 3 voters answering, no quorum") == true && refusal?.contains("not healthy: m1") == true, "\(refusal ?? "nil")")
        // Two members: either restart leaves one of two, never a quorum.
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.12", members: Array(three.prefix(2)), healthyIDs: [1, 2]) != nil)
        // One member: its restart is an outage whatever is done; a learner never votes; a stranger is not asked about.
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.11", members: [three[0]], healthyIDs: []) == nil)
        let withLearner = three + [member(4, "192.0.2.14", learner: true, started: false)]
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.14", members: withLearner, healthyIDs: []) == nil)
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.13", members: withLearner, healthyIDs: [1, 2, 4]) == nil)
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.99", members: three, healthyIDs: []) == nil)
        let five = (1...5).map { member(UInt64($0), "192.0.2.\(10 + $0)") }
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.15", members: five, healthyIDs: [1, 2, 3]) == nil)
        #expect(EtcdMembership.restartRefusal(of: "192.0.2.15", members: five, healthyIDs: [1, 2, 5]) != nil)
    }

    @Test func aMasterComingBackIsAbsentUnfinishedOrBackAsTheOthersListIt() {
        let voter = member(1, "192.0.2.11"), started = member(2, "192.0.2.12", learner: true)
        let added = member(3, "192.0.2.13", learner: true, started: false)
        let members = [voter, started, added]
        #expect(EtcdMembership.returning("192.0.2.14", members: members) == .absent)
        #expect(EtcdMembership.returning("192.0.2.11", members: members) == .back(voter))
        #expect(EtcdMembership.returning("192.0.2.12", members: members) == .unfinished(started))
        #expect(EtcdMembership.returning("192.0.2.13", members: members) == .unfinished(added))
        #expect(EtcdMembership.returning("192.0.2.11", members: []) == .absent)
        // A voter that never published its name has not run on this cluster's data.
        let silentVoter = member(4, "192.0.2.15", started: false)
        #expect(EtcdMembership.returning("192.0.2.15", members: [silentVoter]) == .unfinished(silentVoter))
    }

    @Test func aJoiningMembersInitialClusterIsEveryMemberAndItself() {
        let members = [member(1, "192.0.2.11"), member(26, "192.0.2.12", started: false), member(3, "192.0.2.13", learner: true, started: false)]
        let initial = EtcdMembership.initialCluster(joining: "master-3", peerURL: "https://192.0.2.13:2380", members: members)
        #expect(initial.map(\.name) == ["m1", "1a", "master-3"])
        #expect(initial.map(\.peerURL) == ["https://192.0.2.11:2380", "https://192.0.2.12:2380", "https://192.0.2.13:2380"])
    }

    @Test func joinFilesListEveryMembersAPIServerOnceInMemberOrder() {
        let members = [member(1, "192.0.2.11"), member(2, "2001:db8::2"), member(3, "192.0.2.11")]
        #expect(EtcdMembership.apiServerEndpoints(members) == ["https://192.0.2.11:6443", "https://[2001:db8::2]:6443"])
        #expect(EtcdMembership.learnerNotReady("etcdserver: can only promote a learner member which is in sync with leader"))
        #expect(!EtcdMembership.learnerNotReady("etcdserver: member not found"))
    }
}
