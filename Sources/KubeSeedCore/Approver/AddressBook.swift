/// What the master knows of its cluster's machines, independent of what nodes write about themselves:
/// each IP it minted a join file for (or runs a master on), by owner, and the service range.
public struct AddressBook: Sendable, Equatable {
    /// Node name → its IP, as the join file minted for it says (masters included, by their node name).
    public var nodes: [String: String]
    /// Master IPs: never a node's serving address unless the node is that master.
    public var masters: [String: String]
    public var serviceCIDR: String
    /// Node name → the roles its join file gives it (labelled from the control plane).
    public var roles: [String: [String]]
    /// Names two join files give different IPs: no IP of theirs can be checked.
    public var conflicts: Set<String> = []

    public init(nodes: [String: String], masters: [String: String], serviceCIDR: String, roles: [String: [String]] = [:]) {
        self.nodes = nodes
        self.masters = masters
        self.serviceCIDR = serviceCIDR
        self.roles = roles
    }
}

extension AddressBook {
    /// The book from `seed init`'s record (this master), the joins minted here (`MintedJoin`), and the
    /// etcd members (every master of the cluster, by name and IP); a join without an IP (the node takes
    /// its default-route address) adds only its roles.
    public init(cluster: ClusterConfig, minted: [MintedJoin], etcdMembers: [EtcdMember] = []) {
        var nodes: [String: String] = [:]
        var roles: [String: [String]] = [:]
        var conflicts = Set<String>()
        for join in minted {
            roles[join.node] = Array(Set((roles[join.node] ?? []) + join.roles)).sorted()
            guard let ip = join.ip else { continue }
            if let earlier = nodes[join.node], IPAddress.bytes(earlier) != IPAddress.bytes(ip) { conflicts.insert(join.node) }
            nodes[join.node] = ip
        }
        var masters: [String: String] = [:]
        var known: [(String, String)] = etcdMembers.compactMap { member in
            guard member.started, JoinFile.isValidNodeName(member.name), let ip = member.peerHost else { return nil }
            return (member.name, ip)
        }
        if let name = cluster.masterName, let ip = cluster.masterIP { known.append((name, ip)) }
        for (name, ip) in known {
            if let earlier = masters[name], !IPAddress.same(earlier, ip) { conflicts.insert(name) }
            masters[name] = ip
            roles[name] = Array(Set((roles[name] ?? []) + [ControlPlaneSecrets.role])).sorted()
        }
        self.init(nodes: nodes, masters: masters, serviceCIDR: cluster.serviceCIDR, roles: roles)
        self.conflicts = conflicts
    }
}
