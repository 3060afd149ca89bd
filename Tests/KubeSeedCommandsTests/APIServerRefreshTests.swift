import Foundation
import Glibc
@testable import KubeSeedCommands
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The agent keeping its balancer's API servers, for real against a temporary root (fakes for kmod,
/// swap, D-Bus): the list found in the EndpointSlice replaces the join file's in the balancer's
/// config, is journaled and undone by reset, and an empty or unchanged answer changes nothing. The
/// request itself is contract-tested in APIServerLookupContractTests.
@Suite struct APIServerRefreshTests {
    func drop(_ host: TemporaryHost) throws -> AgentOperations {
        try TemporaryHost.write(host.root, JoinFile.defaultPath, ConvergeTests().joinText())
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
        return AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0)
    }

    @Test func theServersFoundReplaceTheJoinFilesInTheBalancerAndResetUndoesThem() async throws {
        let host = try TemporaryHost()
        let before = try host.snapshot()
        let agent = try drop(host)
        let join = try AgentOperations.loadJoinFile(root: host.root, path: JoinFile.defaultPath, effectiveUID: 0)
        #expect(await agent.converge().status.ready)
        let first = try #require(try host.root.readText(APIBalancer.configPath))

        // Before the kubelet has its certificate nothing is asked and nothing changes.
        let early = await agent.refreshAPIServers()
        #expect(!early.changed && early.message.contains("no kubelet client certificate"))

        let found = ["https://192.0.2.21:6443", "https://192.0.2.22:6443", "https://192.0.2.23:6443"]
        let kept = agent.keepAPIServers(found, join: join)
        #expect(kept.changed, "\(kept.message)")
        #expect(host.root.mode(APIServerDiscovery.statePath) == 0o644)
        let pass = await agent.converge()
        #expect(pass.status.ready && pass.changes >= 1, "\(pass.output)")
        let config = try #require(try host.root.readText(APIBalancer.configPath))
        #expect(config != first)
        #expect(config.contains("server api-1 192.0.2.21:6443") && config.contains("server api-3 192.0.2.23:6443"))
        // The join file's servers stay, as backups used only when every kept one fails its checks.
        #expect(config.contains("server fallback-1 \(join.apiServerEndpoints.compactMap(APIEndpoint.parse).first!.hostPort) backup\n"))
        #expect(!config.contains("server api-4"))

        // The same list again, or an answer naming no ready server: nothing changes.
        #expect(!agent.keepAPIServers(found, join: join).changed)
        #expect(!agent.keepAPIServers(nil, join: join).changed)
        #expect(await agent.converge().changes == 0)

        let outcome = try HostReset(root: host.root, effects: host.effects, journal: ChangeJournal(root: host.root)).run()
        #expect(outcome.failed.isEmpty)
        try host.root.remove(JoinFile.defaultPath)
        var after = try host.snapshot()
        after.removeValue(forKey: Journal.defaultPath)
        #expect(after.keys.filter { $0.hasPrefix("/var/lib/kubeseed/api") }.isEmpty)
        #expect(Set(after.keys).subtracting(before.keys).filter { !$0.hasPrefix("/etc/kubeseed") }.isEmpty)
    }

    @Test func aStateFileThatIsNotAListOfEndpointsOrIsAnotherClustersIsIgnored() throws {
        let host = try TemporaryHost()
        let agent = try drop(host)
        let join = try AgentOperations.loadJoinFile(root: host.root, path: JoinFile.defaultPath, effectiveUID: 0)
        let digest = AgentOperations.caDigest(join)
        try TemporaryHost.write(host.root, APIServerDiscovery.statePath, "ca-sha256 \(digest)\nhttps://192.0.2.21:6443\nserver evil 10.0.0.1:22\n")
        #expect(agent.apiServers(join) == join.apiServerEndpoints)
        // A list kept for another cluster's CA (a join file for another cluster put in place) is not used.
        try TemporaryHost.write(host.root, APIServerDiscovery.statePath, "ca-sha256 \(String(repeating: "0", count: 64))\nhttps://192.0.2.21:6443\n")
        #expect(agent.apiServers(join) == join.apiServerEndpoints)
        try TemporaryHost.write(host.root, APIServerDiscovery.statePath, "ca-sha256 \(digest)\nhttps://192.0.2.21:6443\n")
        #expect(agent.apiServers(join) == ["https://192.0.2.21:6443"])
    }
}
