import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): whether etcd takes a new master, at the mint and at the join, as a table.
@Suite struct EtcdAdmissionTests {
    static func member(_ id: UInt64, _ name: String, _ ip: String, learner: Bool = false, peer: String? = nil) -> EtcdMember {
        EtcdMember(id: id, name: name, peerURLs: [peer ?? "https://\(ip):2380"], clientURLs: name.isEmpty ? [] : ["https://\(ip):2379"], isLearner: learner)
    }
    static let first = member(0xa1, "master-1", "192.0.2.10")

    enum Expected: Equatable { case admitted, peerURLs, nameTaken, ipTaken, learnerPending }

    static func expected(_ refusal: EtcdAdmission.Refusal?) -> Expected {
        switch refusal {
        case nil: return .admitted
        case .peerURLs?: return .peerURLs
        case .nameTaken?: return .nameTaken
        case .ipTaken?: return .ipTaken
        case .learnerPending?: return .learnerPending
        }
    }

    // (members besides master-1, stage, what master-2 on 192.0.2.11 gets)
    static let cases: [(String, [EtcdMember], EtcdAdmission.Stage, Expected)] = [
        ("a fresh master", [], .mint, .admitted),
        ("a fresh master", [], .join(hostHoldsMember: false), .admitted),
        ("its IP is a voter's", [member(0xb2, "master-9", "192.0.2.11")], .mint, .ipTaken),
        ("its IP is a voter's", [member(0xb2, "master-9", "192.0.2.11")], .join(hostHoldsMember: false), .ipTaken),
        ("its own voter, a second run", [member(0xb2, "master-2", "192.0.2.11")], .join(hostHoldsMember: true), .admitted),
        ("its own voter, host reset since", [member(0xb2, "master-2", "192.0.2.11")], .join(hostHoldsMember: false), .ipTaken),
        ("its unstarted learner (a cut join)", [member(0xb2, "", "192.0.2.11", learner: true)], .mint, .admitted),
        ("its unstarted learner (a cut join)", [member(0xb2, "", "192.0.2.11", learner: true)], .join(hostHoldsMember: false), .admitted),
        ("its started learner, host reset since", [member(0xb2, "master-2", "192.0.2.11", learner: true)], .join(hostHoldsMember: false), .ipTaken),
        ("its started learner, a second run", [member(0xb2, "master-2", "192.0.2.11", learner: true)], .join(hostHoldsMember: true), .admitted),
        ("its name on another IP", [member(0xb2, "master-2", "192.0.2.12")], .mint, .nameTaken),
        ("its name on another IP", [member(0xb2, "master-2", "192.0.2.12")], .join(hostHoldsMember: false), .nameTaken),
        ("another master's learner pending", [member(0xb2, "", "192.0.2.12", learner: true)], .mint, .admitted),
        ("another master's learner pending", [member(0xb2, "", "192.0.2.12", learner: true)], .join(hostHoldsMember: false), .learnerPending),
        ("a member on a name, not an IP", [member(0xb2, "master-3", "192.0.2.12", peer: "https://etcd-3:2380")], .join(hostHoldsMember: false), .peerURLs),
        ("a member on another peer port", [member(0xb2, "master-3", "192.0.2.12", peer: "https://192.0.2.12:12380")], .join(hostHoldsMember: false), .peerURLs),
        ("a member on another peer port", [member(0xb2, "master-3", "192.0.2.12", peer: "https://192.0.2.12:12380")], .mint, .admitted),
        ("a learner, then a voter, on its IP", [member(0xb2, "", "192.0.2.11", learner: true, peer: "https://192.0.2.11:12380"),
                                                member(0xb3, "master-9", "192.0.2.11")], .mint, .ipTaken),
        ("its IP a voter's and its name another's", [member(0xb2, "master-9", "192.0.2.11"), member(0xb3, "master-2", "192.0.2.12")], .mint, .ipTaken),
        ("its IP a voter's and its name another's", [member(0xb2, "master-9", "192.0.2.11"), member(0xb3, "master-2", "192.0.2.12")],
         .join(hostHoldsMember: false), .nameTaken),
    ]

    @Test(arguments: cases)
    func admission(_ situation: String, others: [EtcdMember], stage: EtcdAdmission.Stage, expected: Expected) {
        let refusal = EtcdAdmission.refusal(name: "master-2", ip: "192.0.2.11", members: [Self.first] + others, at: stage)
        #expect(Self.expected(refusal) == expected, "\(situation) at \(stage): \(refusal.map(String.init(describing:)) ?? "admitted")")
    }

    @Test func eachRefusalNamesTheMemberInTheWayAndItsField() {
        let voter = Self.member(0xb2, "master-9", "192.0.2.11")
        let refusal = EtcdAdmission.refusal(name: "master-2", ip: "192.0.2.11", members: [Self.first, voter], at: .mint)
        #expect(refusal?.field == "node.ip" && "\(refusal!)" == "192.0.2.11 is already etcd member master-9")
        let namesake = EtcdAdmission.refusal(name: "master-1", ip: "192.0.2.11", members: [Self.first], at: .mint)
        #expect(namesake?.field == "node.name" && "\(namesake!)" == "master-1 is already the name of etcd member a1 on 192.0.2.10")
    }
}
