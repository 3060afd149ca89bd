import Foundation
import Glibc
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// `seed init` and `seed join` all the way through, against temporary roots (real files, PKI, journal
/// and units; systemd and kmod the recording fakes of Fakes.swift) and `FakeCluster`, a fake API server
/// and etcd in memory. The VM runs both on real hosts with the real binaries.
@Suite struct MasterSuccessPathTests {
    final class Output: @unchecked Sendable { var text = "" }

    static let master1 = (name: "master-1", ip: "192.0.2.10")
    static let master2 = (name: "master-2", ip: "192.0.2.11")

    /// A host with the control-plane binaries in place (stand-ins: the phases only check they are executable).
    func masterHost() throws -> TemporaryHost {
        let host = try TemporaryHost()
        for binary in ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
            try TemporaryHost.write(host.root, "\(NodePaths.binDir)/\(binary)", "#!/bin/sh\n")
            chmod(host.root.resolve("\(NodePaths.binDir)/\(binary)"), 0o755)
        }
        try FileManager.default.createDirectory(atPath: host.root.resolve("/root"), withIntermediateDirectories: true)
        return host
    }

    func operations(_ host: TemporaryHost, _ cluster: FakeCluster, ip: String) -> (MasterOperations, Output) {
        let output = Output()
        var operations = MasterOperations(root: host.root, effects: host.effects, effectiveUID: 0)
        operations.write = { output.text += $0 }
        operations.connect = cluster.connect
        operations.localAddresses = { [ip] }
        return (operations, output)
    }

    /// A master after a successful `seed init` against `cluster`, its output and systemd's calls cleared.
    func initializedMaster(_ cluster: FakeCluster = FakeCluster(firstMember: master1.name, ip: master1.ip)) async throws
        -> (TemporaryHost, MasterOperations, Output) {
        let host = try masterHost()
        let (master, output) = operations(host, cluster, ip: Self.master1.ip)
        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath) == 0, "\(output.text)")
        output.text = ""
        host.services.calls = []
        return (host, master, output)
    }

    func config() -> ClusterConfig {
        var config = ClusterConfig()
        config.name = "test"
        config.masterName = Self.master1.name
        config.masterIP = Self.master1.ip
        config.keyAlgorithm = .ecdsaP256
        return config
    }

    @Test func seedInitRunsEveryPhaseASecondRunChangesNothingAndResetRestoresTheHost() async throws {
        let host = try masterHost()
        let before = try host.snapshot()
        let cluster = FakeCluster(firstMember: Self.master1.name, ip: Self.master1.ip)
        let (master, output) = operations(host, cluster, ip: Self.master1.ip)

        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath) == 0, "\(output.text)")
        #expect(output.text.contains("control plane ready at https://192.0.2.10:6443"), "\(output.text)")
        for phase in InitPhase.initialization {
            #expect(output.text.contains("] \(phase.name)"), "no line for phase \(phase.name)")
        }
        #expect(!output.text.contains("FAILED") && !output.text.contains("skipped"), "\(output.text)")
        // What reached the API server: the bootstrap bindings, CoreDNS, and the master's own token's Secret.
        #expect(cluster.object("/api/v1/namespaces/kube-system/services/kube-dns") != nil)
        #expect(cluster.requests.contains { $0.hasSuffix("/api/v1/namespaces/kube-system/secrets") && $0.hasPrefix("POST") })
        #expect(host.services.units["etcd.service"]?.activeState == "active")
        for unit in ControlPlane.unitNames { #expect(host.services.units[unit]?.activeState == "active", "\(unit)") }
        let join = try JoinFile.parse(try #require(try host.root.readText(JoinFile.defaultPath)), file: JoinFile.defaultPath)
        #expect(join.apiServerEndpoints == ["https://192.0.2.10:6443"] && join.nodeName == Self.master1.name)

        output.text = ""
        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath) == 0, "\(output.text)")
        #expect(output.text.contains("seed init: unchanged: control plane ready"), "\(output.text)")

        let reset = AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0).reset()
        #expect(reset.exitCode == 0, "\(reset.output)")
        #expect(try host.snapshot() == before)
    }

    @Test(arguments: [false, true])
    func withoutTheBinariesTheControlPlanesUnitsWaitForOneLaterReload(skippingTheNode: Bool) async throws {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/root"), withIntermediateDirectories: true)
        let (master, output) = operations(host, FakeCluster(firstMember: Self.master1.name, ip: Self.master1.ip), ip: Self.master1.ip)
        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath, skipping: skippingTheNode ? ["master-as-node"] : []) == 0, "\(output.text)")
        #expect(output.text.contains("binaries missing (systemd reloads them with the node's units)"), "\(output.text)")
        let calls = host.services.calls
        let enabled = try #require(calls.lastIndex(of: "enable kube-apiserver.service"), "\(calls)")
        // One reload after the control plane's units: the node's (or, without that phase, the run's last step).
        #expect(calls[enabled...].filter { $0 == "reload" }.count == 1, "\(calls)")
        #expect(calls.last == "reload" || !skippingTheNode, "\(calls)")
    }

    /// With the binaries: etcd's and the control plane's units start with the node's, after one daemon-reload,
    /// in one batch (systemd orders them); the waits for etcd and the API server come after.
    @Test func seedInitReloadsOnceAndStartsEveryUnitInOneBatch() async throws {
        let host = try masterHost()
        let (master, output) = operations(host, FakeCluster(firstMember: Self.master1.name, ip: Self.master1.ip), ip: Self.master1.ip)
        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath) == 0, "\(output.text)")
        #expect(host.services.calls.filter { $0 == "reload" }.count == 1, "\(host.services.calls)\n\(output.text)")
        let batch = try #require(host.services.batches.first { $0.contains(.start("etcd.service")) }, "\(host.services.batches)")
        for unit in ["etcd.service"] + ControlPlane.unitNames + ["containerd.service", APIBalancer.unit] {
            #expect(batch.contains { $0.unit == unit }, "\(unit) not in \(batch)")
        }
        #expect(host.services.calls.firstIndex(of: "reload")! < host.services.calls.firstIndex(of: "start etcd.service")!)
        let lines = output.text.split(separator: "\n").map(String.init)
        let node = try #require(lines.firstIndex { $0.contains("] master as node") })
        #expect(lines.firstIndex { $0.contains("] etcd health") }! > node)
        #expect(lines.firstIndex { $0.contains("] api server") }! > node)
        #expect(output.text.contains("start etcd.service with the node's units"), "\(output.text)")
    }

    /// Without the master-as-node phase, etcd and the control plane start in their own phases, before the waits.
    @Test func withoutTheNodeEtcdAndTheControlPlaneStartThemselves() async throws {
        let host = try masterHost()
        let (master, output) = operations(host, FakeCluster(firstMember: Self.master1.name, ip: Self.master1.ip), ip: Self.master1.ip)
        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath, skipping: ["master-as-node"]) == 0, "\(output.text)")
        #expect(!output.text.contains("with the node's units"), "\(output.text)")
        #expect(output.text.contains("reload systemd, start etcd.service"), "\(output.text)")
        for unit in ["etcd.service"] + ControlPlane.unitNames { #expect(host.services.units[unit]?.activeState == "active", "\(unit)") }
    }

    /// A unit left to the node's batch that does not start fails the run (exit 1, naming it), as it did in its
    /// own phase; the node's own units still start.
    @Test func anOwedUnitThatDoesNotStartFailsTheRun() async throws {
        let host = try masterHost()
        host.services.failingUnits = ["kube-scheduler.service"]
        let (master, output) = operations(host, FakeCluster(firstMember: Self.master1.name, ip: Self.master1.ip), ip: Self.master1.ip)
        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath) == 1, "\(output.text)")
        #expect(output.text.contains("stopped at 'master as node'"), "\(output.text)")
        #expect(output.text.contains("with the node's units: start kube-scheduler.service"), "\(output.text)")
        for unit in ["etcd.service", "kube-apiserver.service", "containerd.service", APIBalancer.unit] {
            #expect(host.services.calls.contains { $0.hasSuffix(" \(unit)") && !$0.hasPrefix("enable") }, "\(unit) not started")
        }
    }

    /// An etcd that systemd keeps restarting is said at once, not after etcd health's wait.
    @Test func etcdHealthSaysAFailingEtcdAtOnce() async throws {
        let (host, master, output) = try await initializedMaster()
        host.services.units["etcd.service"] = UnitState(loadState: "loaded", activeState: "activating", subState: "auto-restart", unitFileState: "enabled")
        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath, only: ["etcd-health"]) == 1, "\(output.text)")
        #expect(output.text.contains("etcd is failed (auto-restart)"), "\(output.text)")
    }

    /// A run that stops after a phase left its reload to the node's: the reload is made before it exits.
    @Test func aRunThatStopsBeforeTheNodeStillReloads() async throws {
        let host = try masterHost()
        try TemporaryHost.write(host.root, "\(NodePaths.certDir)/ca.pem", "half a CA\n")
        let (master, output) = operations(host, FakeCluster(firstMember: Self.master1.name, ip: Self.master1.ip), ip: Self.master1.ip)
        #expect(await master.initialize(config(), source: ClusterConfig.defaultPath) == 1, "\(output.text)")
        #expect(output.text.contains("stopped at 'pki'"), "\(output.text)")
        let masked = try #require(host.services.calls.firstIndex { $0.hasPrefix("mask ") }, "\(host.services.calls)")
        #expect(host.services.calls[masked...].contains("reload"), "\(host.services.calls)")
    }

    /// Two masters of one cluster in `cluster`: master-1 by `seed init`, master-2 by `seed join` with the
    /// file and key master-1 minted. Their outputs are as the commands left them.
    struct TwoMasters {
        let first: TemporaryHost, master1: MasterOperations, output1: Output
        let second: TemporaryHost, master2: MasterOperations, output2: Output
        let key: String
    }

    func twoMasters(_ cluster: FakeCluster) async throws -> TwoMasters {
        cluster.state.withLock { $0.names[Self.master2.ip] = Self.master2.name }
        let first = try masterHost()
        let (master1, output1) = operations(first, cluster, ip: Self.master1.ip)
        #expect(await master1.initialize(config(), source: ClusterConfig.defaultPath) == 0, "\(output1.text)")

        output1.text = ""
        let request = JoinRequest(nodeName: Self.master2.name, nodeIP: Self.master2.ip, roles: [ControlPlaneSecrets.role],
                                  expires: Date().addingTimeInterval(3600))
        #expect(await master1.mintJoinFile(request, output: nil) == 0, "\(output1.text)")
        let lines = output1.text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let key = try #require(lines.first { $0.count == 64 && $0.allSatisfy(\.isHexDigit) })
        let minted = try #require(try first.root.readText("\(MasterOperations.joinFileDirectory)/\(Self.master2.name).yaml"))

        let second = try masterHost()
        try TemporaryHost.write(second.root, "/root/master-2.yaml", minted)
        chmod(second.root.resolve("/root/master-2.yaml"), 0o600)
        let (master2, output2) = operations(second, cluster, ip: Self.master2.ip)
        #expect(await master2.joinControlPlane(joinPath: "/root/master-2.yaml", keyText: key) == 0, "\(output2.text)")
        return TwoMasters(first: first, master1: master1, output1: output1, second: second, master2: master2, output2: output2, key: key)
    }

    @Test func seedJoinAddsALearnerPromotesItAndTheBalancerListsBothMasters() async throws {
        let cluster = FakeCluster(firstMember: Self.master1.name, ip: Self.master1.ip)
        let masters = try await twoMasters(cluster)
        let (first, second, master2, output2, key) = (masters.first, masters.second, masters.master2, masters.output2, masters.key)
        #expect(output2.text.contains("added as learner") && output2.text.contains("promoted to voting member"), "\(output2.text)")
        #expect(cluster.members.map(\.name).sorted() == [Self.master1.name, Self.master2.name])
        #expect(cluster.members.allSatisfy { !$0.isLearner })
        // The shared secrets are the first master's.
        for name in ["ca.pem", "ca-key.pem", "sa.key"] {
            #expect(try second.root.read("\(ControlPlane.certDir)/\(name)") == first.root.read("\(ControlPlane.certDir)/\(name)"), "\(name)")
        }
        // The second master's own node balances over both API servers.
        let join = try JoinFile.parse(try #require(try second.root.readText(JoinFile.defaultPath)), file: JoinFile.defaultPath)
        #expect(join.apiServerEndpoints.sorted() == ["https://192.0.2.10:6443", "https://192.0.2.11:6443"])

        output2.text = ""
        #expect(await master2.joinControlPlane(joinPath: "/root/master-2.yaml", keyText: key) == 0, "\(output2.text)")
        #expect(output2.text.contains("a voting member of 2"), "\(output2.text)")
    }
}
