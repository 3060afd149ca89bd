import Foundation

/// One member of the etcd cluster as etcd's v3 JSON gateway lists it (`POST /v3/cluster/member/list`).
public struct EtcdMember: Sendable, Equatable {
    /// etcd's 64-bit member ID (the gateway spells it as a decimal string).
    public var id: UInt64
    /// Empty until the member has started and published its name.
    public var name: String
    public var peerURLs: [String]
    public var clientURLs: [String]
    public var isLearner: Bool

    public init(id: UInt64, name: String, peerURLs: [String], clientURLs: [String] = [], isLearner: Bool = false) {
        self.id = id
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs
        self.isLearner = isLearner
    }

    /// Its name, or (a member that never started has none) its ID as etcdctl spells it.
    public var displayName: String { name.isEmpty ? EtcdMembership.hex(id) : name }

    /// Whether the member has started (a member added but never started has no name and no client URLs).
    public var started: Bool { !name.isEmpty }

    /// The host of its first peer URL (an IP for every member KubeSeed adds).
    public var peerHost: String? { peerURLs.first.flatMap(APIEndpoint.parse)?.host }

    /// Whether one of its peer URLs is on `ip`.
    public func hasPeer(ip: String) -> Bool {
        peerURLs.contains { url in APIEndpoint.parse(url).map { IPAddress.same($0.host, ip) } ?? false }
    }
}

/// etcd's cluster-membership calls over its v3 JSON gateway, and the rules around them: pure (the
/// requests and the parsing of answers), so the same code is contract-tested and run against etcd.
public enum EtcdMembership {
    public static let listPath = "/v3/cluster/member/list"
    public static let addPath = "/v3/cluster/member/add"
    public static let promotePath = "/v3/cluster/member/promote"
    public static let removePath = "/v3/cluster/member/remove"

    public static func listRequest() -> APIRequest {
        APIRequest(.post, listPath, body: Data("{}".utf8), object: "etcd member list")
    }

    /// Adds a member that has not started yet, as a learner: it receives the log but does not vote
    /// until promoted, so a slow or failed start never costs the cluster its quorum.
    public static func addLearnerRequest(peerURL: String) -> APIRequest {
        APIRequest(.post, addPath, body: json(["peerURLs": [peerURL], "isLearner": true]), object: "etcd member add \(peerURL) (learner)")
    }

    public static func promoteRequest(id: UInt64) -> APIRequest {
        APIRequest(.post, promotePath, body: json(["ID": String(id)]), object: "etcd member promote \(hex(id))")
    }

    public static func removeRequest(id: UInt64) -> APIRequest {
        APIRequest(.post, removePath, body: json(["ID": String(id)]), object: "etcd member remove \(hex(id))")
    }

    /// etcdctl's spelling of a member ID.
    public static func hex(_ id: UInt64) -> String { String(id, radix: 16) }

    private static func json(_ object: [String: Any]) -> Data {
        // Strings, booleans and arrays of strings always serialize.
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// What went wrong reading an answer.
    public struct AnswerError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The members of a `member list` (or `member add`, which lists them too) answer. The whole list is
    /// refused when one member is not what a KubeSeed cluster's members are (`checkMember`) or two share an
    /// ID or a name: these values go into `--initial-cluster`, quorum counts and the balancer.
    public static func members(in body: Data) throws -> [EtcdMember] {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw AnswerError(description: "etcd's answer is not a JSON object")
        }
        guard let value = object["members"] else { return [] }
        guard let list = value as? [[String: Any]] else { throw AnswerError(description: "etcd's member list is not a list of members") }
        let members = try list.map(member)
        var ids = Set<UInt64>(), names = Set<String>()
        for member in members {
            guard ids.insert(member.id).inserted else { throw AnswerError(description: "etcd's member list names member \(hex(member.id)) twice; refused whole") }
            guard member.name.isEmpty || names.insert(member.name).inserted else {
                throw AnswerError(description: "etcd's member list has two members named \(member.name); refused whole")
            }
        }
        return members
    }

    /// The cluster's ID in an answer's header (the gateway spells it as a decimal string); `nil` without one.
    /// A restore makes a cluster with a new ID.
    public static func clusterID(in body: Data) -> UInt64? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let header = object["header"] as? [String: Any], let id = header["cluster_id"] as? String else { return nil }
        return UInt64(id)
    }

    /// The member an `add` answer says it added.
    public static func addedMember(in body: Data) throws -> EtcdMember {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let added = object["member"] as? [String: Any] else {
            throw AnswerError(description: "etcd's answer to member add names no member")
        }
        return try member(added)
    }

    /// One member, checked: the one validator for what etcd says of its members.
    static func member(_ fields: [String: Any]) throws -> EtcdMember {
        // The gateway writes uint64 as a decimal string; anything else (a number, a boolean, a negative, past 2^64-1) is refused.
        guard let text = fields["ID"] as? String, text.isASCIIDigits, text.count <= 20, let id = UInt64(text) else {
            throw AnswerError(description: "an etcd member whose ID is not a uint64 in a decimal string")
        }
        func strings(_ key: String) throws -> [String] {
            guard let value = fields[key] else { return [] }
            guard let list = value as? [String] else { throw AnswerError(description: "etcd member \(hex(id)): \(key) is not a list of strings") }
            return list
        }
        let name: String
        switch fields["name"] {
        case nil: name = ""
        case let text as String: name = text
        default: throw AnswerError(description: "etcd member \(hex(id)): its name is not a string")
        }
        var isLearner = false
        if let value = fields["isLearner"] {
            guard let flag = JSONScalar.bool(value) else { throw AnswerError(description: "etcd member \(hex(id)): isLearner is not a boolean") }
            isLearner = flag
        }
        let member = EtcdMember(id: id, name: name, peerURLs: try strings("peerURLs"), clientURLs: try strings("clientURLs"), isLearner: isLearner)
        if let problem = checkMember(member) { throw AnswerError(description: "etcd member \(hex(id)): \(problem); the member list is refused whole") }
        return member
    }

    /// Why `member` is not one a KubeSeed cluster has, or `nil`: its name (empty before it starts) must
    /// be a node name, so it cannot add a peer of its own to `--initial-cluster` with `,` or `=`; its peer
    /// and client URLs must each be exactly `https://IP:PORT`.
    public static func checkMember(_ member: EtcdMember) -> String? {
        if !member.name.isEmpty && !JoinFile.isValidNodeName(member.name) {
            return "its name \(Validate.shown(member.name)) is not a node name (lowercase DNS labels)"
        }
        for url in member.peerURLs + member.clientURLs where !isIPURL(url) {
            return "\(Validate.shown(url)) is not https://IP:PORT"
        }
        return nil
    }

    /// Exactly `https://IP:PORT` (an IPv6 address in brackets), as KubeSeed writes it.
    public static func isIPURL(_ url: String) -> Bool {
        guard let endpoint = APIEndpoint.parse(url), !endpoint.hostIsName else { return false }
        return IPAddress.httpsURL(endpoint.host, port: endpoint.port) == url
    }

    /// etcd's error text from a failed call (`{"error": "...", "message": "..."}`), or the raw body.
    public static func errorMessage(_ body: Data) -> String {
        if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
           let message = object["message"] as? String ?? object["error"] as? String {
            return message
        }
        return String(decoding: body.prefix(300), as: UTF8.self)
    }

    /// etcd's answer to promoting a member that is already a voter (a promote that got through
    /// before its answer was lost): the start of the not-in-sync message, on its own.
    public static func alreadyVoter(_ message: String) -> Bool {
        message.hasSuffix("can only promote a learner member")
    }

    /// Whether a promote failed only because the learner has not caught up yet (worth retrying).
    public static func learnerNotReady(_ message: String) -> Bool {
        message.contains("which is in sync with leader") || message.contains("not ready") || message.contains("too many requests")
    }

    /// What removing the member on `ip` does to the cluster's quorum.
    public enum Removal: Equatable, Sendable {
        /// Not a member: nothing to remove.
        case notAMember
        /// The last member: removing it ends the cluster (reset of a single master).
        case lastMember(EtcdMember)
        /// Safe: the remaining voters that answer are a majority of the remaining voters.
        case safe(EtcdMember, remaining: Int, healthy: Int)
        /// Unsafe: too few of the remaining voters answer to keep a quorum.
        case wouldLoseQuorum(EtcdMember, remaining: Int, healthy: Int)
    }

    /// Decides whether the member on `ip` can leave: the voters left behind must still be a quorum
    /// among themselves counting only those that answer (`healthyIDs`). A learner never votes, so its
    /// removal is always safe.
    public static func removal(of ip: String, members: [EtcdMember], healthyIDs: Set<UInt64>) -> Removal {
        guard let leaving = members.first(where: { $0.hasPeer(ip: ip) }) else { return .notAMember }
        let others = members.filter { $0.id != leaving.id }
        guard !others.isEmpty else { return .lastMember(leaving) }
        let voters = others.filter { !$0.isLearner }
        let healthy = voters.filter { healthyIDs.contains($0.id) }.count
        if leaving.isLearner || healthy >= voters.count / 2 + 1 {
            return .safe(leaving, remaining: voters.count, healthy: healthy)
        }
        return .wouldLoseQuorum(leaving, remaining: voters.count, healthy: healthy)
    }

    /// Why restarting the member on `ip` now would cost the cluster its quorum while it is down (the
    /// other voters that answer, `healthyIDs`, must be a majority of all voters); `nil` when it would not,
    /// for a learner, and for a one-member cluster (its restart is an outage whatever is done).
    public static func restartRefusal(of ip: String, members: [EtcdMember], healthyIDs: Set<UInt64>) -> String? {
        guard members.count > 1, let restarting = members.first(where: { $0.hasPeer(ip: ip) }), !restarting.isLearner else { return nil }
        let voters = members.filter { !$0.isLearner }
        let others = voters.filter { $0.id != restarting.id }
        let healthy = others.filter { healthyIDs.contains($0.id) }.count
        guard healthy < voters.count / 2 + 1 else { return nil }
        let down = others.filter { !healthyIDs.contains($0.id) }.map(\.displayName)
        return "restarting etcd member \(restarting.displayName) now leaves \(healthy) of \(voters.count) voters answering, no quorum"
            + (down.isEmpty ? "" : " (not healthy: \(down.joined(separator: ", ")))")
    }

    /// Where a master that left etcd (`seed etcd leave`) stands on its way back in (`seed etcd rejoin`).
    public enum Return: Equatable, Sendable {
        /// Not a member of the cluster the others list: its old data goes aside and it is added as a learner.
        case absent
        /// Added by an earlier run that did not finish: that run is finished (started, promoted). Its data is
        /// kept only once it has started on this cluster's data (`started`); before that it is the old data.
        case unfinished(EtcdMember)
        /// A started voting member: back already.
        case back(EtcdMember)
    }

    /// Where the master on `ip` stands in `members` (as the other masters list them).
    public static func returning(_ ip: String, members: [EtcdMember]) -> Return {
        guard let mine = members.first(where: { $0.hasPeer(ip: ip) }) else { return .absent }
        return !mine.isLearner && mine.started ? .back(mine) : .unfinished(mine)
    }

    /// The `--initial-cluster` of a member joining `members` as `name` on `peerURL`: every member (etcd
    /// compares this list's peer URLs with the cluster's own at start, so none may be left out; one
    /// that never started has no name, and goes by its ID), then the new one.
    public static func initialCluster(joining name: String, peerURL: String, members: [EtcdMember]) -> [(name: String, peerURL: String)] {
        var list: [(name: String, peerURL: String)] = []
        for member in members where !member.peerURLs.contains(peerURL) {
            guard let url = member.peerURLs.first else { continue }
            list.append((member.displayName, url))
        }
        list.append((name, peerURL))
        return list
    }

    /// The API server endpoints of a cluster whose masters are its etcd members (stacked etcd):
    /// each member's peer host on 6443, in member order, learners included (the balancer's health
    /// check keeps a master out until its API server is ready).
    public static func apiServerEndpoints(_ members: [EtcdMember]) -> [String] {
        var seen = Set<String>()
        return members.compactMap(\.peerHost).filter { seen.insert($0).inserted }.map { IPAddress.httpsURL($0, port: 6443) }
    }
}
