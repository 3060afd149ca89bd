import Foundation
import Glibc
import KubeSeedCore
import KubeSeedPKI
import X509
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedHost
import KubeSeedHostFakes

/// `seed init`'s phase list run in part (`seed pki`, `seed etcd`, `--skip-phases`) and refused, against a
/// temporary root (files, modes and journal real; systemd and kmod the recording fakes of HostFakes).
@Suite struct InitPhaseRunTests {
    func master(_ host: TemporaryHost) -> (MasterOperations, MasterOperationsTests.Output) { MasterOperationsTests().master(host) }

    @Test func seedPKIRunsInitsPhaseWithExtraSANsAndCountsItsOwnSteps() async throws {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/etc/kubernetes/cert"), withIntermediateDirectories: true)
        let (operations, output) = master(host)
        var config = ClusterConfig()
        config.masterIP = "192.0.2.10"
        config.keyAlgorithm = .ecdsaP256
        config.extraSANs = ["k8s.example.internal", "198.51.100.7"]
        #expect(await operations.initialize(config, source: ClusterConfig.defaultPath, only: ["pki"], command: "seed pki") == 0, "\(output.text)")
        #expect(output.text.contains("[1/1] pki"), "the step count comes from the phase list: \(output.text)")
        let pem = try #require(try host.root.readText("/etc/kubernetes/cert/kube-apiserver.pem"))
        let names = try Certificate(pemEncoded: pem).subjectAlternativeNameStrings
        #expect(names.contains("k8s.example.internal") && names.contains("198.51.100.7"), "\(names)")
    }

    @Test func aFailedPhaseKeepsItsCauseAndExitsOne() async throws {
        let host = try TemporaryHost()
        let (operations, output) = master(host)
        var config = ClusterConfig()
        config.masterName = "master-1"
        config.masterIP = "192.0.2.10"
        #expect(await operations.initialize(config, source: ClusterConfig.defaultPath, only: ["etcd", "etcd-health"], command: "seed etcd") == 1)
        #expect(output.text.contains("[1/2] etcd"))
        #expect(output.text.contains("stopped at 'etcd'") && output.text.contains("missing /etc/kubernetes/cert/etcd-ca.pem"), "\(output.text)")
    }

    @Test func initNeverExitsTwoSilently() async throws {
        let host = try TemporaryHost()
        let (operations, output) = master(host)
        var config = ClusterConfig()
        config.masterName = "master-1"
        config.masterIP = "192.0.2.10"
        #expect(await operations.initialize(config, source: "/etc/kubeseed/cluster.yaml", skipping: ["no-such-phase"]) == 2)
        #expect(output.text.contains("--skip-phases") && output.text.contains("no-such-phase") && output.text.contains("nothing changed"), "\(output.text)")
        output.text = ""
        #expect(await operations.initialize(config, source: "/etc/kubeseed/cluster.yaml", only: ["pki", "bogus"]) == 2)
        #expect(output.text.contains("phase NAME") && output.text.contains("bogus") && output.text.contains("the phases are: node, pki,"), "\(output.text)")
    }

    @Test func aChangedDataDirIsRefusedOnARerun() async throws {
        let host = try TemporaryHost()
        var recorded = ClusterConfig()
        recorded.masterName = "master-1"
        recorded.masterIP = "192.0.2.10"
        try TemporaryHost.write(host.root, ClusterConfig.recordPath, recorded.render())
        let before = try host.snapshot()
        let (operations, output) = master(host)
        var moved = recorded
        moved.host.dataDir = "/srv/k8s"
        #expect(await operations.initialize(moved, source: ClusterConfig.defaultPath) == 2)
        #expect(output.text.contains("field 'host.dataDir'"), "\(output.text)")
        #expect(try host.snapshot() == before)
    }
}

/// What the long power-cut run found (Tests/VM/run-powercuts.sh): after a cut during `seed init`,
/// systemd starts the enabled etcd at boot and it is still `activating` (replaying its WAL) when the
/// next `seed init` looks. The etcd phase joins that start and waits for it instead of failing.
@Suite struct EtcdStartAfterPowerCutTests {
    /// A host with etcd's certificates (placeholders) and data directories, as the pki and node phases leave it.
    func etcdReadyHost() throws -> (TemporaryHost, NodePrepSettings) {
        let host = try TemporaryHost()
        var settings = NodePrepSettings()
        settings.dataDir = "/data/k8s"
        for path in EtcdSetup.neededCertificates { try TemporaryHost.write(host.root, "\(ControlPlane.certDir)/\(path)", "x\n") }
        for dir in [settings.etcdDataDir, settings.etcdWALDir] {
            try FileManager.default.createDirectory(atPath: host.root.resolve(dir), withIntermediateDirectories: true)
        }
        return (host, settings)
    }

    @Test func anEtcdStillStartingIsWaitedForNotReportedAsFailed() throws {
        let (host, settings) = try etcdReadyHost()
        let member = EtcdUnit.Member(name: "master-1", ip: "192.0.2.10")
        try TemporaryHost.write(host.root, EtcdUnit.path, EtcdUnit.render(this: member, cluster: [member], settings: settings))
        host.services.units["etcd.service"] = UnitState(loadState: "loaded", activeState: "activating", subState: "start", unitFileState: "enabled")
        let performed = try HostSession.with(host.root, effects: host.effects) { session in
            try EtcdSetup(session: session, settings: settings).converge(this: member, cluster: [member]).performed
        }
        #expect(performed.map { "\($0.step)" } == ["start etcd.service"])
        #expect(host.services.calls.contains("start etcd.service"))
    }

    /// A new unit and its enable share one daemon-reload, made before the start reads the unit.
    @Test func aNewUnitIsWrittenEnabledAndStartedAfterOneReload() throws {
        let (host, settings) = try etcdReadyHost()
        host.services.units["etcd.service"] = UnitState(loadState: "loaded", activeState: "inactive", subState: "dead", unitFileState: "disabled")
        let member = EtcdUnit.Member(name: "master-1", ip: "192.0.2.10")
        try HostSession.with(host.root, effects: host.effects) { session in
            _ = try EtcdSetup(session: session, settings: settings).converge(this: member, cluster: [member]).performed
        }
        #expect(host.services.calls == ["enable etcd.service", "reload", "start etcd.service"], "\(host.services.calls)")
        #expect(try host.root.readText(EtcdUnit.path) != nil)
    }
}

/// Which phases leave their reload and starts to the master-as-node phase, on the commands' own lists.
@Suite struct ActivationFoldingTests {
    func folds(_ phase: InitPhase, _ list: [InitPhase]) -> Bool { InitPhase.foldsActivationIntoNode(phase.name, in: list.map(\.name)) }

    @Test func seedInitFoldsEtcdAndTheControlPlaneAndNothingThatWaits() throws {
        #expect(folds(.node, InitPhase.initialization))
        #expect(folds(.etcd, InitPhase.initialization))
        #expect(folds(.controlPlane, InitPhase.initialization))
        for phase in InitPhase.initialization where !InitPhase.deferringActivation.contains(phase.name) {
            #expect(!folds(phase, InitPhase.initialization), "\(phase.name)")
        }
        // Every phase between the first folding one and the node's neither starts nor waits for a unit.
        let names = InitPhase.initialization.map(\.name)
        let between = names[names.firstIndex(of: InitPhase.node.name)!..<names.firstIndex(of: InitPhase.masterNode.name)!]
        #expect(Set(between).isSubset(of: InitPhase.deferringActivation + InitPhase.unitFree))
    }

    @Test func aJoinASelectionWithoutTheNodeOrAWaitBetweenFoldsNothing() throws {
        #expect(!folds(.controlPlane, InitPhase.controlPlaneJoin))
        #expect(!folds(.node, InitPhase.controlPlaneJoin))
        #expect(!folds(.etcd, [.etcd, .etcdHealth]))
        #expect(!folds(.etcd, [.etcd, .etcdHealth, .masterNode]))
        #expect(!folds(.controlPlane, [.controlPlane, .apiServer, .masterNode]))
        #expect(folds(.controlPlane, [.controlPlane, .masterNode]))
    }
}
