import Foundation
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// `seed join-file`, `seed token` and `seed init`'s refusals, run for real against a temporary root
/// (real files, modes and journal; systemd and kmod are the recording fakes of Fakes.swift). No API
/// server: there is no admin certificate, so nothing tries to connect. The VM test runs `seed init`
/// on a real host.
@Suite struct MasterOperationsTests {
    final class Output: @unchecked Sendable { var text = "" }

    func master(_ host: TemporaryHost) -> (MasterOperations, Output) {
        let output = Output()
        var operations = MasterOperations(root: host.root, effects: host.effects, effectiveUID: 0)
        operations.write = { output.text += $0 }
        return (operations, output)
    }

    func initializedHost() throws -> TemporaryHost {
        let host = try TemporaryHost()
        var config = ClusterConfig()
        config.name = "test"
        config.masterName = "master-1"
        config.masterIP = "192.0.2.10"
        try TemporaryHost.write(host.root, ClusterConfig.recordPath, config.render())
        try TemporaryHost.write(host.root, "/etc/kubernetes/cert/ca.pem", try golden("test-ca.pem"))
        return host
    }

    func golden(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../KubeSeedCoreTests/Golden/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test func joinFileIsMintedForTheAgentAndTheTokenIsListedButNeverShown() async throws {
        let host = try initializedHost()
        let before = try host.snapshot()
        let (operations, output) = master(host)
        let request = JoinRequest(nodeName: "worker-1", nodeIP: "192.0.2.11", expires: Date().addingTimeInterval(3600))
        #expect(await operations.mintJoinFile(request, output: nil) == 0, "\(output.text)")
        let path = "/var/lib/kubeseed/join-files/worker-1.yaml"
        #expect(host.root.mode(path) == 0o600)
        #expect(host.root.mode(TokenRecord.path) == 0o600)
        let join = try JoinFile.parse(try #require(try host.root.readText(path)), file: path)
        #expect(join.apiServerEndpoints == ["https://192.0.2.10:6443"] && join.clusterName == "test" && join.nodeIP == "192.0.2.11")
        let secret = String(join.token.secretValue.split(separator: ".")[1])
        #expect(output.text.contains("\(join.token.id).<redacted>"))
        #expect(output.text.contains("'seed init' creates the token's Secret"))

        output.text = ""
        #expect(operations.listTokens() == 0)
        #expect(output.text.contains(join.token.id) && output.text.contains("pending") && output.text.contains("worker-1"))
        #expect(!output.text.contains(secret))

        #expect(await operations.deleteToken(id: join.token.id) == 0)
        #expect(try TokenStore(root: host.root).load().isEmpty)
        #expect(await operations.deleteToken(id: "nosuch") == 1)

        // reset removes the join file, its directory and the token record: the host is as before.
        let outcome = try HostReset(root: host.root, effects: host.effects, journal: ChangeJournal(root: host.root)).run()
        #expect(outcome.failed.isEmpty)
        var after = try host.snapshot()
        after.removeValue(forKey: Journal.defaultPath)
        #expect(after == before)
    }

    /// The approver's address book from join files minted here, one of them with a token long expired:
    /// the IP a node was joined with stays true after its token expires.
    @Test func theAddressBookReadsEveryMintedJoinFileEvenOnceItsTokenExpired() async throws {
        let host = try initializedHost()
        let (operations, output) = master(host)
        let longAgo = Date().addingTimeInterval(-3 * 86400)
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-1", nodeIP: "192.0.2.11", expires: longAgo.addingTimeInterval(3600)),
                                              output: nil, now: longAgo) == 0, "\(output.text)")
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-2", nodeIP: "192.0.2.12", roles: ["ingress"],
                                                          expires: Date().addingTimeInterval(3600)), output: nil) == 0, "\(output.text)")
        let (book, problems) = try MasterOperations.addressBook(root: host.root)
        #expect(problems.isEmpty)
        #expect(book.nodes == ["worker-1": "192.0.2.11", "worker-2": "192.0.2.12"])
        #expect(book.masters == ["master-1": "192.0.2.10"])
        #expect(book.roles == ["master-1": ["control-plane"], "worker-1": ["worker"], "worker-2": ["ingress"]])
        #expect(host.root.mode(MintedJoin.path) == 0o600)
    }

    /// The address book is its own store: a join file written elsewhere (--output) or deleted as its header
    /// says still counts; `seed token delete` retires the node; a new node minted on a reused IP retires
    /// the old one (said in the output); an entry that does not read leaves the others standing.
    @Test func theAddressBookIsAStoreThatJoinFilesAddToAndTokenDeletionRetiresFrom() async throws {
        let host = try initializedHost()
        let (operations, output) = master(host)
        let later = Date().addingTimeInterval(3600)
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-1", nodeIP: "192.0.2.11", expires: later), output: "/root/worker-1.yaml") == 0, "\(output.text)")
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-2", nodeIP: "192.0.2.12", expires: later), output: nil) == 0, "\(output.text)")
        try host.root.remove("\(MasterOperations.joinFileDirectory)/worker-2.yaml")
        var book = try MasterOperations.addressBook(root: host.root).book
        #expect(book.nodes == ["worker-1": "192.0.2.11", "worker-2": "192.0.2.12"])

        output.text = ""
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-3", nodeIP: "192.0.2.12", expires: later), output: nil) == 0)
        #expect(output.text.contains("192.0.2.12 was node worker-2's: worker-2 is retired"), "\(output.text)")
        book = try MasterOperations.addressBook(root: host.root).book
        #expect(book.nodes == ["worker-1": "192.0.2.11", "worker-3": "192.0.2.12"])

        let id = try #require(try TokenStore(root: host.root).load().first { $0.node == "worker-1" }?.id)
        output.text = ""
        #expect(await operations.deleteToken(id: id) == 0, "\(output.text)")
        #expect(output.text.contains("worker-1 retired from the CSR approver's address book"), "\(output.text)")
        book = try MasterOperations.addressBook(root: host.root).book
        #expect(book.nodes == ["worker-3": "192.0.2.12"])

        // One entry spoiled by hand: reported, left out, the others stand.
        let text = try #require(try host.root.readText(MintedJoin.path))
        try TemporaryHost.write(host.root, MintedJoin.path, "[\n  {\"node\": \"Bad Name\"}," + text.dropFirst(1))
        let (spoiled, problems) = try MasterOperations.addressBook(root: host.root)
        #expect(spoiled.nodes == ["worker-3": "192.0.2.12"])
        #expect(problems.count == 1 && problems[0].contains("entry 1"), "\(problems)")
    }

    @Test func aMastersSealedJoinFileIsRemovedOnceItExpires() async throws {
        let host = try ControlPlaneJoinTests().firstMaster()
        let (operations, output) = master(host)
        let past = Date().addingTimeInterval(-3 * 3600)
        _ = await operations.mintJoinFile(JoinRequest(nodeName: "master-2", nodeIP: "192.0.2.12", roles: ["control-plane"], expires: past.addingTimeInterval(3600)),
                                          output: nil, now: past)
        let sealed = "\(MasterOperations.joinFileDirectory)/master-2.yaml"
        guard host.root.exists(sealed) else { Issue.record("not minted: \(output.text)"); return }
        output.text = ""
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-1", nodeIP: "192.0.2.11", expires: Date().addingTimeInterval(3600)), output: nil) == 0)
        #expect(!host.root.exists(sealed) && output.text.contains("removed \(sealed): its sealed secrets expired"), "\(output.text)")
        // Its node stays in the address book: the master it made is still that IP.
        #expect(try MasterOperations.addressBook(root: host.root).book.nodes["master-2"] == "192.0.2.12")
    }

    @Test func joinFileBeforeInitWritesNothing() async throws {
        let host = try TemporaryHost()
        let before = try host.snapshot()
        let (operations, output) = master(host)
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-1", expires: Date().addingTimeInterval(60)), output: nil) == 1)
        #expect(output.text.contains("run 'seed init' on this master first"))
        #expect(try host.snapshot() == before)
    }

    @Test func initRefusesToChangeWhatTheClusterWasBuiltWithAndChangesNothing() async throws {
        let host = try initializedHost()
        let before = try host.snapshot()
        let (operations, output) = master(host)
        var config = ClusterConfig()
        config.name = "test"
        config.masterName = "master-1"
        config.masterIP = "192.0.2.99"
        #expect(await operations.initialize(config, source: ClusterConfig.defaultPath) == 2)
        #expect(output.text.contains("field 'master.ip'") && output.text.contains("192.0.2.10"))
        config.masterIP = "192.0.2.10"
        config.serviceCIDR = "10.96.0.0/12"
        config.clusterDNS = "10.96.0.10"
        #expect(await operations.initialize(config, source: ClusterConfig.defaultPath) == 2)
        #expect(output.text.contains("field 'cluster.serviceCIDR'"))
        #expect(try host.snapshot() == before)
    }

    @Test func initWithoutARouteOrNameSaysWhichFieldToSet() async throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, "/proc/sys/kernel/hostname", "worker_7\n")
        let (operations, output) = master(host)
        // An underscore is not allowed in a node name, so master.name must be set.
        #expect(await operations.initialize(ClusterConfig(), source: ClusterConfig.defaultPath) == 2)
        #expect(output.text.contains("field 'master.name'"))
        var named = ClusterConfig()
        named.masterName = "master-1"
        #expect(await operations.initialize(named, source: ClusterConfig.defaultPath) == 2)
        #expect(output.text.contains("field 'master.ip'"))
    }

    @Test func nonRootIsRefused() async throws {
        let host = try TemporaryHost()
        var (operations, output) = master(host)
        operations.effectiveUID = 1000
        #expect(await operations.initialize(ClusterConfig(), source: ClusterConfig.defaultPath) == 1)
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "a", expires: Date()), output: nil) == 1)
        #expect(output.text.contains("must run as root"))
    }
}
