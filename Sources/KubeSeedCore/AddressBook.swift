/// What the master knows of its cluster's machines, independent of what nodes write about themselves:
/// each IP it minted a join file for (or runs a master on), by owner, and the service range.
public struct AddressBook: Sendable, Equatable {
    /// Node name → its IP, as the join file minted for it says (masters included, by their node name).
    public var nodes: [String: String]
    /// Master IPs: never a node's serving address unless the node is that master.
    public var masters: [String: String]
    public var serviceCIDR: String

    public init(nodes: [String: String], masters: [String: String], serviceCIDR: String) {
        self.nodes = nodes
        self.masters = masters
        self.serviceCIDR = serviceCIDR
    }
}

extension AddressBook {
    /// The book from `seed init`'s record (the master) and the join files minted here; a join file
    /// without `node.ip` (the node takes its default-route address) adds nothing.
    public init(cluster: ClusterConfig, joinFiles: [JoinFile]) {
        var nodes: [String: String] = [:]
        for join in joinFiles {
            if let name = join.nodeName, let ip = join.nodeIP { nodes[name] = ip }
        }
        var masters: [String: String] = [:]
        if let name = cluster.masterName, let ip = cluster.masterIP { masters[name] = ip }
        self.init(nodes: nodes, masters: masters, serviceCIDR: cluster.serviceCIDR)
    }
}
