/// Whether etcd can take a new master `name` on `ip`: decided here for both places that ask,
/// `seed join-file` (before it mints the file, from any master) and `seed join` (on the new master,
/// before it adds itself as a learner).
public enum EtcdAdmission {
    /// Who asks.
    public enum Stage: Sendable, Equatable {
        /// `seed join-file`: a learner on the IP is a join that did not finish, and a new file may finish it.
        case mint
        /// `seed join`: `hostHoldsMember` when this host already is (or was set up as) that member, a second run.
        case join(hostHoldsMember: Bool)
    }

    /// Why etcd cannot take the master, with the member in the way.
    public enum Refusal: Sendable, Equatable, CustomStringConvertible {
        /// A member with other peer URLs than one `https://IP:2380`: KubeSeed cannot build `--initial-cluster` for it.
        case peerURLs(EtcdMember)
        /// Another member (on another IP) has the name.
        case nameTaken(name: String, by: EtcdMember)
        /// A member already has the IP.
        case ipTaken(ip: String, by: EtcdMember)
        /// Another learner has not been promoted yet: etcd takes one learner at a time.
        case learnerPending(EtcdMember)

        /// The field of the join file the refusal is about.
        public var field: String {
            switch self {
            case .peerURLs: return "cluster"
            case .nameTaken: return "node.name"
            case .ipTaken, .learnerPending: return "node.ip"
            }
        }

        public var description: String {
            switch self {
            case .peerURLs(let member):
                return "etcd member \(member.displayName) has peer URLs \(member.peerURLs.joined(separator: ", ")); KubeSeed joins clusters whose members each have one https://IP:2380"
            case .nameTaken(let name, let member):
                return "\(name) is already the name of etcd member \(EtcdMembership.hex(member.id)) on \(member.peerHost ?? "?")"
            case .ipTaken(let ip, let member):
                return "\(ip) is already etcd member \(member.displayName)"
            case .learnerPending(let member):
                return "etcd member \(member.peerURLs.first ?? EtcdMembership.hex(member.id)) is still a learner: etcd takes one at a time"
            }
        }
    }

    /// The first reason etcd, with `members`, cannot take master `name` on `ip` at `stage`; `nil` when it can.
    public static func refusal(name: String, ip: String, members: [EtcdMember], at stage: Stage) -> Refusal? {
        if case .mint = stage {
            // A learner is a join that did not finish: a new file may finish it.
            if let voter = members.first(where: { $0.hasPeer(ip: ip) && !$0.isLearner }) { return .ipTaken(ip: ip, by: voter) }
            return members.first { $0.name == name && !$0.hasPeer(ip: ip) }.map { .nameTaken(name: name, by: $0) }
        }
        if let odd = members.first(where: { member in
            member.peerURLs.count != 1 || member.peerHost.map({ IPAddress.bytes($0) == nil }) ?? true || APIEndpoint.parse(member.peerURLs[0])?.port != 2380
        }) {
            return .peerURLs(odd)
        }
        if let namesake = members.first(where: { $0.name == name && !$0.hasPeer(ip: ip) }) {
            return .nameTaken(name: name, by: namesake)
        }
        if case .join(let hostHoldsMember) = stage, !hostHoldsMember, let holder = members.first(where: { $0.hasPeer(ip: ip) }),
           !holder.isLearner || holder.started {
            return .ipTaken(ip: ip, by: holder)
        }
        if let other = members.first(where: { $0.isLearner && !$0.hasPeer(ip: ip) }) {
            return .learnerPending(other)
        }
        return nil
    }
}
