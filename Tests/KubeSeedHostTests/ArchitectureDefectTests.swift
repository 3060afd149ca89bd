import Foundation
import Glibc
import KubeSeedCore
import KubeSeedPKI
import X509
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedHost

/// The defects the architecture read-through found, each run for real against a temporary root
/// (files, modes and journal real; systemd and kmod the recording fakes of Fakes.swift).
@Suite struct ArchitectureDefectTests {
    final class Output: @unchecked Sendable { var text = "" }

    func master(_ host: TemporaryHost) -> (MasterOperations, Output) {
        let output = Output()
        var operations = MasterOperations(root: host.root, effects: host.effects, effectiveUID: 0)
        operations.write = { output.text += $0 }
        return (operations, output)
    }

    @Test func reRunWithAnIPv6MasterReusesItsOwnCertificates() throws {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/etc/kubernetes/cert"), withIntermediateDirectories: true)
        let journal = try ChangeJournal(root: host.root)
        let written = PKIParameters(masterIPs: ["2001:db8::a"], etcdIPs: ["2001:db8::a"], serviceCIDR: "fd00:10::/108", clusterDomain: "cluster.local")
        #expect(try PKIStore(root: host.root).ensure(written, algorithm: .ecdsaP256, journal: journal).allSatisfy { $0.outcome == .created })
        // The same addresses spelled another way are the same addresses.
        let respelled = PKIParameters(masterIPs: ["2001:DB8:0:0::A"], etcdIPs: ["2001:db8:0::a"], serviceCIDR: "fd00:10::/108", clusterDomain: "cluster.local")
        for parameters in [written, respelled] {
            #expect(try PKIStore(root: host.root).ensure(parameters, algorithm: .ecdsaP256, journal: journal).allSatisfy { $0.outcome == .reused })
        }
        let other = PKIParameters(masterIPs: ["2001:db8::b"], etcdIPs: ["2001:db8::b"], serviceCIDR: "fd00:10::/108", clusterDomain: "cluster.local")
        #expect(throws: HostError.self) { try PKIStore(root: host.root).ensure(other, algorithm: .ecdsaP256, journal: journal) }
    }

    @Test func seedPKIRunsInitsPhaseWithExtraSANsAndCountsItsOwnSteps() async throws {
        let host = try TemporaryHost()
        try FileManager.default.createDirectory(atPath: host.root.resolve("/etc/kubernetes/cert"), withIntermediateDirectories: true)
        let (operations, output) = master(host)
        var config = ClusterConfig()
        config.masterIP = "192.0.2.10"
        config.keyAlgorithm = .ecdsaP256
        config.extraSANs = ["k8s.example.internal", "198.51.100.7"]
        #expect(await operations.pki(config, source: ClusterConfig.defaultPath) == 0, "\(output.text)")
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
        #expect(await operations.etcd(config, source: ClusterConfig.defaultPath) == 1)
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

    @Test func nodeIdentityErrorsNameTheFileThatWasRead() throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, "/proc/sys/kernel/hostname", "worker_7\n")
        let path = "/root/elsewhere/join.yaml"
        let text = ConvergeTests().joinText()
        try TemporaryHost.write(host.root, path, text)
        chmod(host.root.resolve(path), 0o600)
        let pass = AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0).converge(joinPath: path)
        #expect(!pass.status.ready)
        #expect(pass.status.summary.contains(path) && pass.status.summary.contains("node.name"), "\(pass.status.summary)")
        #expect(!pass.retryable, "a bad node name needs an edit, not a restart")
    }

    @Test func retryabilityComesFromTheError() {
        #expect(AgentOperations.isRetryable(HostError(.systemJob, "start kubelet.service")))
        #expect(!AgentOperations.isRetryable(ConfigError(.invalidValue, file: "/etc/kubeseed/join.yaml", "bad")))
        #expect(!AgentOperations.isRetryable(HostError.errno(.file, "write /etc/containerd/config.toml", EACCES)))
        #expect(AgentOperations.isRetryable(HostError.errno(.file, "write /etc/containerd/config.toml", EBUSY)))
    }

    @Test func relativePathsBecomeAbsolute() {
        let cwd = FileManager.default.currentDirectoryPath
        #expect(absolutePath("join.yaml") == (cwd == "/" ? "" : cwd) + "/join.yaml")
        #expect(absolutePath("/etc/kubeseed/./x/../join.yaml") == "/etc/kubeseed/join.yaml")
        #expect(absolutePath("./join.yaml").hasPrefix("/") && !absolutePath("./join.yaml").contains("/./"))
    }

    @Test func aBusyLockIsReportedAsBusyAndAnythingElseAsItself() throws {
        let host = try TemporaryHost()
        let lock = try HostLock.acquire(host.root, path: "/run/kubeseed/agent.lock")
        defer { lock.release() }
        // flock locks belong to the open file description: a second open in this process conflicts too.
        #expect { _ = try HostLock.acquire(host.root, path: "/run/kubeseed/agent.lock") } throws: { error in
            (error as? HostError)?.code == .busy && "\(error)".contains("another KubeSeed command")
        }
        try TemporaryHost.write(host.root, "/run/not-a-directory", "x")
        #expect { _ = try HostLock.acquire(host.root, path: "/run/not-a-directory/agent.lock") } throws: { error in
            (error as? HostError)?.code == .file && !"\(error)".contains("another")
        }
    }

    @Test func aCommandThatWaitsGetsTheLockOnceTheHolderReleasesItAndOnlyThen() async throws {
        let host = try TemporaryHost()
        let path = "/run/kubeseed/agent.lock"
        let held = try HostLock.acquire(host.root, path: path)
        // Waiting less than the holder keeps it: still busy.
        #expect { _ = try HostLock.acquire(host.root, path: path, waiting: .milliseconds(300)) } throws: { ($0 as? HostError)?.code == .busy }
        let root = host.root
        let waiter = Task.detached { (try HostLock.acquire(root, path: path, waiting: .seconds(10)), ContinuousClock.now) }
        try await Task.sleep(for: .milliseconds(300))
        let released = ContinuousClock.now
        held.release()
        let (taken, takenAt) = try await waiter.value
        #expect(takenAt >= released, "the waiter had the lock before the holder let it go")
        // The waiter holds it now: another taker is refused.
        #expect { _ = try HostLock.acquire(host.root, path: path) } throws: { ($0 as? HostError)?.code == .busy }
        taken.release()
    }

    @Test func aDirectoryFlushThatFailsIsReported() throws {
        let host = try TemporaryHost()
        #expect { try host.root.syncDirectory(host.root.resolve("/no/such/directory")) } throws: { error in
            (error as? HostError)?.errnoValue == ENOENT
        }
    }

    @Test func oneJournalServesAWholeInit() throws {
        let host = try TemporaryHost()
        let journal = try ChangeJournal(root: host.root)
        let runner = StepRunner(root: host.root, effects: host.effects, journal: journal)
        try runner.apply([.writeFile(path: "/etc/kubernetes-a.yaml", content: "a\n", mode: 0o600)], observed: NodeObservation())
        try TokenStore(root: host.root).save([], journal: journal)
        #expect(journal.records.map(\.key).filter { $0.hasPrefix("file:") } == ["file:/etc/kubernetes-a.yaml", "file:\(TokenRecord.path)"])
        #expect(try ChangeJournal(root: host.root).records == journal.records)
    }
}

/// What the long power-cut run found (Tests/VM/run-powercuts.sh): after a cut during `seed init`,
/// systemd starts the enabled etcd at boot and it is still `activating` (replaying its WAL) when the
/// next `seed init` looks. The etcd phase joins that start and waits for it instead of failing.
@Suite struct EtcdStartAfterPowerCutTests {
    @Test func anEtcdStillStartingIsWaitedForNotReportedAsFailed() throws {
        let host = try TemporaryHost()
        var settings = NodePrepSettings()
        settings.dataDir = "/data/k8s"
        for path in EtcdSetup.neededCertificates { try TemporaryHost.write(host.root, "\(ControlPlane.certDir)/\(path)", "x\n") }
        for dir in [settings.etcdDataDir, settings.etcdWALDir] {
            try FileManager.default.createDirectory(atPath: host.root.resolve(dir), withIntermediateDirectories: true)
        }
        let member = EtcdUnit.Member(name: "master-1", ip: "192.0.2.10")
        try TemporaryHost.write(host.root, EtcdUnit.path, EtcdUnit.render(this: member, cluster: [member], settings: settings))
        host.services.units["etcd.service"] = UnitState(loadState: "loaded", activeState: "activating", subState: "start", unitFileState: "enabled")
        let performed = try HostSession.with(host.root, effects: host.effects) { session in
            try EtcdSetup(session: session, settings: settings).converge(this: member, cluster: [member])
        }
        #expect(performed.map { "\($0.step)" } == ["start etcd.service"])
        #expect(host.services.calls.contains("start etcd.service"))
    }
}
