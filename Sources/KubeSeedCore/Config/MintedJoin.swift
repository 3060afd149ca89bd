import Foundation

/// One join file minted on this master, as the CSR approver's address book keeps it: the node, the IP
/// it was joined with, its roles, when it was minted and until when its token (or sealed secrets) were
/// valid. The address book lives in one store (`path`, 0600) that every `seed join-file` writes and
/// `seed token delete` retires from; it no longer depends on the join files' copies, which an operator
/// is told to delete and `--output` never writes.
public struct MintedJoin: Sendable, Equatable {
    public static let path = "/var/lib/kubeseed/minted-joins.json"

    public var node: String
    /// `nil`: the node takes its default-route address (nothing to check its serving IPs against).
    public var ip: String?
    public var roles: [String]
    public var minted: Date
    public var expires: Date
    /// A worker's bootstrap token: `seed token delete ID` retires the entry with its token.
    public var tokenID: String?

    public init(node: String, ip: String?, roles: [String], minted: Date, expires: Date, tokenID: String? = nil) {
        self.node = node
        self.ip = ip
        self.roles = roles
        self.minted = minted
        self.expires = expires
        self.tokenID = tokenID
    }

    /// The entry for a join file read from disk (the address book before the store existed).
    public init(join: JoinFile, minted: Date) {
        self.init(node: join.nodeName ?? "", ip: join.nodeIP, roles: join.roles, minted: minted,
                  expires: join.controlPlane?.expires ?? join.tokenExpires, tokenID: join.controlPlane == nil ? join.token.id : nil)
    }

    /// The store's entries, each read on its own: one that is not a valid entry is reported and left
    /// out, and never stops the others.
    public static func decode(_ data: Data) -> (entries: [MintedJoin], problems: [String]) {
        guard let list = (try? JSONSerialization.jsonObject(with: data)) as? [Any] else {
            return ([], ["the store is not a JSON list of entries"])
        }
        var entries: [MintedJoin] = []
        var problems: [String] = []
        for (index, item) in list.enumerated() {
            switch entry(item) {
            case .success(let entry): entries.append(entry)
            case .failure(let problem): problems.append("entry \(index + 1): \(problem.description)")
            }
        }
        return (entries, problems)
    }

    struct Problem: Error { var description: String }

    static func entry(_ item: Any) -> Result<MintedJoin, Problem> {
        guard let object = item as? [String: Any] else { return .failure(Problem(description: "not an object")) }
        guard let node = object["node"] as? String, JoinFile.isValidNodeName(node) else { return .failure(Problem(description: "node is not a node name")) }
        var ip: String?
        if let value = object["ip"] {
            guard let text = value as? String, IPAddress.isValid(text) else { return .failure(Problem(description: "\(node): ip is not an IP address")) }
            ip = text
        }
        guard let roles = object["roles"] as? [String], roles.allSatisfy(Validate.isDNSLabel) else {
            return .failure(Problem(description: "\(node): roles are not a list of DNS labels"))
        }
        guard let minted = (object["minted"] as? String).flatMap(Timestamp.date), let expires = (object["expires"] as? String).flatMap(Timestamp.date) else {
            return .failure(Problem(description: "\(node): minted or expires is not an RFC 3339 time"))
        }
        var tokenID: String?
        if let value = object["tokenID"] {
            guard let text = value as? String, text.count == 6, text.allSatisfy({ $0.isLowercaseASCIILetter || $0.isASCIIDigit }) else {
                return .failure(Problem(description: "\(node): tokenID is not a token ID"))
            }
            tokenID = text
        }
        return .success(MintedJoin(node: node, ip: ip, roles: roles, minted: minted, expires: expires, tokenID: tokenID))
    }

    public static func encode(_ entries: [MintedJoin]) -> Data {
        let objects: [[String: Any]] = entries.map { entry in
            var object: [String: Any] = ["node": entry.node, "roles": entry.roles, "minted": Timestamp.string(entry.minted), "expires": Timestamp.string(entry.expires)]
            if let ip = entry.ip { object["ip"] = ip }
            if let tokenID = entry.tokenID { object["tokenID"] = tokenID }
            return object
        }
        // Strings and lists of strings always serialize.
        return ((try? JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])) ?? Data("[]".utf8)) + Data("\n".utf8)
    }

    /// `entries` with `new` added: it replaces an entry for the same node (the newest mint is the node's
    /// truth), and retires any other node's entry on the same IP (a machine given to a new node). Returns
    /// the retired entries, for the operator to see.
    public static func adding(_ new: MintedJoin, to entries: [MintedJoin]) -> (entries: [MintedJoin], retired: [MintedJoin]) {
        var kept: [MintedJoin] = []
        var retired: [MintedJoin] = []
        for entry in entries {
            if entry.node == new.node { continue }
            if let ip = new.ip, let other = entry.ip, IPAddress.same(ip, other) { retired.append(entry); continue }
            kept.append(entry)
        }
        return (kept + [new], retired)
    }
}
