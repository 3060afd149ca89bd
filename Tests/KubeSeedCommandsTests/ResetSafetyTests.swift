import Foundation
import Glibc
import KubeSeedCore
import KubeSeedPKI
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedHost
import KubeSeedHostFakes

/// `reset` never destroys what KubeSeed did not create: run for real against a temporary root (files,
/// modes and journal real; systemd, kmod and swap the recording fakes of Fakes.swift).
@Suite struct ResetSafetyTests {
    func agent(_ host: TemporaryHost) -> AgentOperations {
        AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0)
    }

    @Test func anFstabLineAddedAfterApplySurvivesReset() async throws {
        let host = try TemporaryHost()
        #expect(await agent(host).apply().exitCode == 0)
        let applied = try #require(try host.root.readText("/etc/fstab"))
        #expect(applied.contains(Render.fstabMarker))
        try host.root.writeAtomically("/etc/fstab", Data((applied + "/dev/vdb /srv xfs defaults 0 2\n").utf8), mode: 0o644)
        let outcome = agent(host).reset()
        #expect(outcome.exitCode == 0, "\(outcome.output)")
        #expect(try host.root.readText("/etc/fstab") == "/dev/vda / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n/dev/vdb /srv xfs defaults 0 2\n")
        #expect(outcome.output.contains("other edits made since are kept"), "\(outcome.output)")
    }

    @Test func aConfigFileEditedAfterApplyIsLeftWithItsOriginalBeside() async throws {
        let host = try TemporaryHost()
        #expect(await agent(host).apply().exitCode == 0)
        let path = NodePlanner.sysctlConfPath
        try host.root.writeAtomically(path, Data("# the operator's own now\nvm.swappiness = 10\n".utf8), mode: 0o644)
        let outcome = agent(host).reset()
        #expect(try host.root.readText(path) == "# the operator's own now\nvm.swappiness = 10\n")
        #expect(outcome.output.contains("\(path) changed since KubeSeed"), "\(outcome.output)")
    }

    @Test func aKeyRestoredFromBackupAfterAFailedPKIRunIsNeverDeleted() throws {
        let host = try TemporaryHost()
        let cert = "/etc/kubernetes/cert"
        try FileManager.default.createDirectory(atPath: host.root.resolve(cert), withIntermediateDirectories: true)
        let parameters = PKIParameters(masterIPs: ["192.0.2.10"], etcdIPs: ["192.0.2.10"], serviceCIDR: "10.254.0.0/16", clusterDomain: "cluster.local")
        // A PKI run that fails (an admin certificate that does not fit) journals nothing and writes nothing.
        try TemporaryHost.write(host.root, "\(cert)/admin.pem", "not a certificate\n")
        try TemporaryHost.write(host.root, "\(cert)/admin-key.pem", "not a key\n")
        #expect(throws: (any Error).self) { try PKIStore(root: host.root).ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: host.root)) }
        #expect(try ChangeJournal(root: host.root).records.isEmpty)
        #expect(!host.root.exists("\(cert)/ca-key.pem"))
        // Later the operator puts a CA back from a backup; a reset must leave it.
        try TemporaryHost.write(host.root, "\(cert)/ca-key.pem", "the operator's CA key\n")
        #expect(agent(host).reset().exitCode == 0)
        #expect(try host.root.readText("\(cert)/ca-key.pem") == "the operator's CA key\n")
    }

    @Test func aKeyReplacedAfterKubeSeedWroteItIsNotRemoved() throws {
        let host = try TemporaryHost()
        let cert = "/etc/kubernetes/cert"
        try FileManager.default.createDirectory(atPath: host.root.resolve(cert), withIntermediateDirectories: true)
        let parameters = PKIParameters(masterIPs: ["192.0.2.10"], etcdIPs: ["192.0.2.10"], serviceCIDR: "10.254.0.0/16", clusterDomain: "cluster.local")
        _ = try PKIStore(root: host.root).ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: host.root))
        try host.root.writeAtomically("\(cert)/ca-key.pem", Data("restored from a backup\n".utf8), mode: 0o600)
        let outcome = agent(host).reset()
        #expect(try host.root.readText("\(cert)/ca-key.pem") == "restored from a backup\n")
        #expect(!host.root.exists("\(cert)/admin-key.pem"), "files still as KubeSeed wrote them are removed")
        #expect(outcome.output.contains("ca-key.pem changed since KubeSeed created it"), "\(outcome.output)")
    }

    @Test func aMirrorTakenOutOfTheJoinFileTakesItsHostsTomlWithIt() async throws {
        let host = try TemporaryHost()
        let converge = ConvergeTests()
        let withMirror = converge.joinText(extra: "").replacingOccurrences(of: "containerd:\n",
            with: "containerd:\n  registryMirrors:\n    docker.io: [\"https://mirror.example.internal\"]\n")
        try converge.drop(host, withMirror)
        #expect(await agent(host).converge().status.ready)
        let hosts = "\(NodePaths.containerdCertsDir)/docker.io/hosts.toml"
        #expect(host.root.exists(hosts))
        try converge.drop(host, converge.joinText())
        let pass = await agent(host).converge()
        #expect(pass.status.ready, "\(pass.output)")
        #expect(!host.root.exists(hosts), "\(pass.output)")
        #expect(!host.root.isDirectory("\(NodePaths.containerdCertsDir)/docker.io"))
        #expect(pass.output.contains("remove \(hosts)"))
        #expect(await agent(host).converge().changes == 0, "a second pass changes nothing")
    }
}

/// More of what `reset` and the agent must leave alone (the red-team pass), for real against a temporary root.
@Suite struct ResetLeavesOperatorFilesTests {
    @Test func aLocaltimeThatWasAFileComesBackAsThatFile() async throws {
        let host = try TemporaryHost()
        try host.root.remove("/etc/localtime")
        try TemporaryHost.write(host.root, "/etc/localtime", "TZif a copied zone file\n")
        var settings = NodePrepSettings()
        settings.timezone = "Asia/Shanghai"
        let operations = AgentOperations(root: host.root, effects: host.effects, settings: settings, effectiveUID: 0)
        #expect(await operations.apply().exitCode == 0)
        #expect(host.root.readLink("/etc/localtime") != nil)
        #expect(operations.reset().exitCode == 0)
        #expect(host.root.readLink("/etc/localtime") == nil)
        #expect(try host.root.readText("/etc/localtime") == "TZif a copied zone file\n")
    }

    @Test func anEditedHostsTomlIsNotRemovedWithItsMirror() async throws {
        let host = try TemporaryHost()
        let converge = ConvergeTests()
        let agent = AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0)
        try converge.drop(host, converge.joinText().replacingOccurrences(of: "containerd:\n",
            with: "containerd:\n  registryMirrors:\n    docker.io: [\"https://mirror.example.internal\"]\n"))
        #expect(await agent.converge().status.ready)
        let hosts = "\(NodePaths.containerdCertsDir)/docker.io/hosts.toml"
        try host.root.writeAtomically(hosts, Data("# the operator's own\nserver = \"https://registry-1.docker.io\"\n".utf8), mode: 0o644)
        try converge.drop(host, converge.joinText())
        #expect(await agent.converge().status.ready)
        #expect(try host.root.readText(hosts)?.hasPrefix("# the operator's own") == true)
    }
}
