import Foundation

extension BootstrapToken {
    /// A new random token. `generator` is the system's CSPRNG unless a test passes its own.
    public static func generate<G: RandomNumberGenerator>(using generator: inout G) -> BootstrapToken {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        func part(_ count: Int) -> String { String((0..<count).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] }) }
        return BootstrapToken("\(part(6)).\(part(16))")!
    }

    public static func generate() -> BootstrapToken {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }
}

/// A bootstrap token `seed join-file` minted, as kept in `TokenRecord.path` (0600: it holds the secret,
/// so that a token made while the API server was down can be uploaded later).
public struct TokenRecord: Codable, Sendable, Equatable {
    public static let path = "/var/lib/kubeseed/tokens.json"

    public var id: String
    public var secret: String
    public var expires: Date
    public var node: String
    /// The token's Secret exists in kube-system (created by `seed join-file` or a later `seed init`).
    public var uploaded: Bool

    public init(token: BootstrapToken, expires: Date, node: String, uploaded: Bool = false) {
        id = token.id
        secret = String(token.secretValue.split(separator: ".")[1])
        self.expires = expires
        self.node = node
        self.uploaded = uploaded
    }

    public var token: BootstrapToken { BootstrapToken("\(id).\(secret)")! }

    public static func decode(_ data: Data) throws -> [TokenRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode([TokenRecord].self, from: data)
    }

    public static func encode(_ records: [TokenRecord]) -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Encoding plain strings, dates and booleans does not fail.
        return ((try? encoder.encode(records)) ?? Data()) + Data("\n".utf8)
    }
}

/// What `seed join-file` is asked for, beyond the cluster record.
public struct JoinRequest: Sendable, Equatable {
    public var nodeName: String
    public var nodeIP: String?
    public var roles: [String]
    public var expires: Date
    /// The whole host section to hand over (the master's own join file carries the master's settings,
    /// so its agent prepares the host exactly as `seed init` did); `nil`: only the time zone.
    public var host: NodePrepSettings?
    /// Every API server the node should balance over; `nil`: the recorded master's.
    public var apiServerEndpoints: [String]?
    /// The sealed secrets of a control-plane join file.
    public var controlPlane: ControlPlaneSecrets?

    public init(nodeName: String, nodeIP: String? = nil, roles: [String] = ["worker"], expires: Date) {
        self.nodeName = nodeName
        self.nodeIP = nodeIP
        self.roles = roles
        self.expires = expires
    }
}

extension JoinFile {
    /// Renders a join file in the agent's schema (`JoinFile.parse` reads it back) for one node,
    /// from the configuration `seed init` recorded, the cluster CA and a token.
    public static func render(cluster: ClusterConfig, caPEM: String, token: BootstrapToken, request: JoinRequest) -> String {
        var node: [(String, YAMLDocument)] = [("name", .string(request.nodeName))]
        if let ip = request.nodeIP { node.append(("ip", .string(ip))) }
        node.append(("roles", .list(request.roles.map { .string($0) })))
        var pairs: [(String, YAMLDocument)] = [
            ("apiVersion", .string(apiVersion)),
            ("kind", .string(kind)),
            ("cluster", .map([
                ("name", .string(cluster.name)),
                ("kubernetesVersion", .string(cluster.kubernetesVersion)),
                ("apiServerEndpoints", .list((request.apiServerEndpoints ?? [cluster.apiServerEndpoint ?? ""]).map { .string($0) })),
                ("caCertificate", .string(caPEM)),
                ("serviceCIDR", .string(cluster.serviceCIDR)),
                ("podCIDR", .string(cluster.podCIDR)),
                ("clusterDNS", .string(cluster.clusterDNS)),
                ("clusterDomain", .string(cluster.clusterDomain)),
            ])),
            ("bootstrap", .map([
                ("token", .string(token.secretValue)),
                ("expires", .string(Timestamp.string(request.expires))),
            ])),
            ("node", .map(node)),
        ]
        if cluster.sandboxImage != ContainerdSettings.defaultSandboxImage {
            pairs.append(("containerd", .map([("sandboxImage", .string(cluster.sandboxImage))])))
        }
        if let host = request.host {
            let rendered = HostSettingsParser.render(host)
            if !rendered.isEmpty { pairs.append(("host", .map(rendered))) }
        } else if let timezone = cluster.host.timezone {
            pairs.append(("host", .map([("timezone", .string(timezone))])))
        }
        if let secrets = request.controlPlane {
            pairs.append(("controlPlane", .map([
                ("secrets", .string(secrets.sealed)),
                ("expires", .string(Timestamp.string(secrets.expires))),
            ])))
        }
        if request.controlPlane != nil {
            let header = "# Control-plane join file for master \(request.nodeName), minted by 'seed join-file'. Its secrets are sealed with a\n"
                + "# one-time key shown once on the minting master; give both to 'seed join' on \(request.nodeName), then delete this copy.\n"
            return YAMLDocument.render(header: header, pairs)
        }
        let header = "# Join file for node \(request.nodeName), minted by 'seed join-file'. It holds a bootstrap token: keep it 0600,\n"
            + "# copy it to the node as /etc/kubeseed/join.yaml (root, 0600) and delete this copy.\n"
        return YAMLDocument.render(header: header, pairs)
    }
}
