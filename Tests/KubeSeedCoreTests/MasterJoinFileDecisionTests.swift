import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): whether `seed init` mints its master's join file again, as a table over
/// what is at the agent's path.
@Suite struct MasterJoinFileDecisionTests {
    static let now = Date(timeIntervalSince1970: 1_900_000_000)
    static let endpoints = ["https://192.0.2.10:6443"]

    /// A join file as `seed init` mints it, its token expiring at `expires`.
    static func join(expires: Date, endpoints: [String] = endpoints, dataDir: String? = nil) throws -> JoinFile {
        var cluster = ClusterConfig()
        cluster.masterName = "master-1"
        cluster.masterIP = "192.0.2.10"
        var request = JoinRequest(nodeName: "master-1", nodeIP: "192.0.2.10", roles: ["control-plane"], expires: expires)
        request.apiServerEndpoints = endpoints
        if let dataDir {
            var host = NodePrepSettings()
            host.dataDir = dataDir
            request.host = host
        }
        let text = JoinFile.render(cluster: cluster, caPEM: try golden("test-ca.pem"), token: BootstrapToken("abcdef.0123456789abcdef")!, request: request)
        return try JoinFile.parse(text, file: "join.yaml", now: now, tokenExpiryMatters: false)
    }

    enum Situation: String, CaseIterable {
        case none, unreadableOurs, unreadableTheirs, validOurs, validTheirs, validOursOtherHost, validOursOtherServers, validOursEtcdSilent,
             validTheirsOtherServers, expiredOursBootstrapped, expiredOursNotBootstrapped, expiredOursStale, expiredTheirs
    }

    static let expected: [Situation: MasterJoinFile.Decision] = [
        .none: .mint, .unreadableOurs: .mint, .unreadableTheirs: .refuse("bad yaml"), .validOurs: .keep, .validTheirs: .keep,
        .validOursOtherHost: .mint, .validOursOtherServers: .mint, .validOursEtcdSilent: .keep, .validTheirsOtherServers: .keep,
        .expiredOursBootstrapped: .keep, .expiredOursNotBootstrapped: .mint, .expiredOursStale: .mint,
        .expiredTheirs: .refuse("its bootstrap token has expired"),
    ]

    @Test(arguments: Situation.allCases)
    func decision(_ situation: Situation) throws {
        let later = Self.now.addingTimeInterval(3600), earlier = Self.now.addingTimeInterval(-3600)
        var endpoints: [String]? = Self.endpoints
        let found: MasterJoinFile.Found?
        switch situation {
        case .none: found = nil
        case .unreadableOurs: found = .init(isKubeSeeds: true, join: nil, parseError: "bad yaml")
        case .unreadableTheirs: found = .init(isKubeSeeds: false, join: nil, parseError: "bad yaml")
        case .validOurs: found = .init(isKubeSeeds: true, join: try Self.join(expires: later))
        case .validTheirs: found = .init(isKubeSeeds: false, join: try Self.join(expires: later, dataDir: "/srv/other"))
        case .validOursOtherHost: found = .init(isKubeSeeds: true, join: try Self.join(expires: later, dataDir: "/srv/other"))
        case .validOursOtherServers:
            found = .init(isKubeSeeds: true, join: try Self.join(expires: later))
            endpoints = Self.endpoints + ["https://192.0.2.11:6443"]
        case .validOursEtcdSilent:
            found = .init(isKubeSeeds: true, join: try Self.join(expires: later, endpoints: ["https://192.0.2.11:6443"]))
            endpoints = nil
        case .validTheirsOtherServers:
            found = .init(isKubeSeeds: false, join: try Self.join(expires: later, endpoints: ["https://192.0.2.11:6443"]))
        case .expiredOursBootstrapped: found = .init(isKubeSeeds: true, join: try Self.join(expires: earlier), kubeletBootstrapped: true)
        case .expiredOursNotBootstrapped: found = .init(isKubeSeeds: true, join: try Self.join(expires: earlier), kubeletBootstrapped: false)
        case .expiredOursStale:
            found = .init(isKubeSeeds: true, join: try Self.join(expires: earlier, dataDir: "/srv/other"), kubeletBootstrapped: true)
        case .expiredTheirs: found = .init(isKubeSeeds: false, join: try Self.join(expires: earlier), kubeletBootstrapped: true)
        }
        #expect(MasterJoinFile.decide(found, host: NodePrepSettings(), endpoints: endpoints, now: Self.now) == Self.expected[situation], "\(situation)")
    }
}
