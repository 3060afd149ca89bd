import Foundation
import Glibc
import KubeSeedCommands
import KubeSeedCore
import KubeSeedTestSupport
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The agent's join-file pass, for real against a temporary root; kmod, swap and D-Bus are fakes.
@Suite struct ConvergeTests {
    static let ca = try! String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("KubeSeedCoreTests/Golden/test-ca.pem").path, encoding: .utf8)

    func joinText(maxPods: Int = 110, sandbox: String = "registry.k8s.io/pause:3.9", extra: String = "") -> String {
        """
        apiVersion: kubeseed.io/v1alpha1
        kind: JoinConfiguration
        cluster:
          kubernetesVersion: v1.31.2
          apiServerEndpoints: ["https://192.0.2.10:6443"]
          caCertificate: |
        \(Self.ca.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        bootstrap:
          token: abcdef.0123456789abcdef
          expires: "2099-01-01T00:00:00Z"
        node:
          ip: 192.0.2.11
        containerd:
          sandboxImage: \(sandbox)
        kubelet:
          maxPods: \(maxPods)
        \(extra)
        """
    }

    func drop(_ host: TemporaryHost, _ text: String, mode: mode_t = 0o600) throws {
        try TemporaryHost.write(host.root, JoinFile.defaultPath, text)
        chmod(host.root.resolve(JoinFile.defaultPath), mode)
    }

    func operations(_ host: TemporaryHost) -> AgentOperations {
        AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0)
    }

    @Test func joinFileBringsUpContainerdAndInstallsKubernetesUnits() async throws {
        let host = try TemporaryHost()
        try drop(host, joinText())
        let pass = await operations(host).converge()
        #expect(pass.status.ready, "\(pass.output)")
        let root = host.root
        #expect(try root.readText(NodePaths.containerdConfig)?.contains("SystemdCgroup = true") == true)
        #expect(root.mode(NodePaths.bootstrapKubeconfig) == 0o600)
        #expect(try root.readText(NodePaths.kubeletUnit)?.contains("--hostname-override=worker-7") == true)
        #expect(try root.readText(NodePaths.kubeProxyConfig)?.contains("hostnameOverride: worker-7") == true)
        #expect(host.services.calls.contains("restart containerd.service"))
        #expect(host.services.calls.contains("enable kubelet.service") && host.services.calls.contains("enable kube-proxy.service"))
        #expect(!host.services.calls.contains("start kubelet.service"))
        let kubelet = try #require(pass.status.checks.first { $0.name == "kubelet.service" })
        #expect(kubelet.state == "waiting")
        #expect(kubelet.reason.contains("binary missing: put kubelet in /opt/k8s/bin"))
        #expect(pass.status.summary.contains("kubelet, kube-proxy waiting for binaries"))
        // The token is in the 0600 kubeconfig and nowhere in what the agent prints or reports.
        #expect(!pass.output.contains("0123456789abcdef"))
        #expect(!String(decoding: pass.status.encoded(), as: UTF8.self).contains("0123456789abcdef"))
    }

    @Test func theFirstPassReloadsSystemdOnceAfterTheMasksAndTheSecondNever() async throws {
        let host = try TemporaryHost()
        try drop(host, joinText())
        let first = await operations(host).converge()
        #expect(first.status.ready, "\(first.output)")
        #expect(host.services.reloads == 1, "\(host.services.calls)")
        let calls = host.services.calls
        let mask = try #require(calls.firstIndex { $0.hasPrefix("mask ") })
        let reload = try #require(calls.firstIndex(of: "reload"))
        #expect(mask < reload)
        #expect(first.output.contains("changed  reload systemd"), "the reload is reported with its time")
        _ = await operations(host).converge()
        #expect(host.services.reloads == 1, "an unchanged pass does not reload")
    }

    @Test func aReloadNodePreparationLeftPendingIsNotLostWhenComponentsAreBlocked() async throws {
        let host = try TemporaryHost()
        host.services.units["containerd.service"] = nil   // not installed: the component plan blocks
        try drop(host, joinText())
        let pass = await operations(host).converge()
        #expect(!pass.status.ready)
        #expect(pass.status.summary.contains("containerd.service"), "\(pass.status.summary)")
        #expect(host.services.calls.contains { $0.hasPrefix("mask ") })
        #expect(host.services.reloads == 1, "\(host.services.calls)")
    }

    @Test func secondPassWritesNothingAndRestartsNothing() async throws {
        let host = try TemporaryHost()
        try drop(host, joinText())
        #expect(await operations(host).converge().status.ready)
        let before = try host.snapshot(withTimes: true)
        let calls = host.services.calls.count
        let second = await operations(host).converge()
        #expect(second.changes == 0, "\(second.output)")
        #expect(second.status.ready)
        #expect(try host.snapshot(withTimes: true) == before)
        #expect(host.services.calls.count == calls)
    }

    @Test func changedJoinFileRewritesOnlyWhatChangedAndRestartsWhatUsesIt() async throws {
        let host = try TemporaryHost()
        try drop(host, joinText())
        #expect(await operations(host).converge().status.ready)
        host.services.calls = []
        try drop(host, joinText(maxPods: 50))
        let pass = await operations(host).converge()
        #expect(pass.changes == 1, "\(pass.output)")
        #expect(pass.output.contains("write \(NodePaths.kubeletConfig)"))
        #expect(!host.services.calls.contains { $0.hasPrefix("restart") })
        try drop(host, joinText(maxPods: 50, sandbox: "registry.k8s.io/pause:3.10"))
        #expect(await operations(host).converge().status.ready)
        #expect(host.services.calls.contains("restart containerd.service"))
    }

    @Test func kubeletStartsOnceItsBinaryIsThere() async throws {
        let host = try TemporaryHost()
        try drop(host, joinText())
        #expect(await operations(host).converge().status.ready)
        try TemporaryHost.write(host.root, "/opt/k8s/bin/kubelet", "#!/bin/sh\n")
        chmod(host.root.resolve("/opt/k8s/bin/kubelet"), 0o755)
        let pass = await operations(host).converge()
        #expect(host.services.calls.contains("start kubelet.service"), "\(pass.output)")
        #expect(pass.status.checks.first { $0.name == "kubelet.service" }?.state == "ok")
        #expect(pass.status.checks.first { $0.name == "kube-proxy.service" }?.state == "waiting")
    }

    @Test(arguments: [
        ("world-readable", 0o644 as mode_t, "", "mode 644 lets others read the bootstrap token; run: chmod 600"),
        ("group-readable", 0o640 as mode_t, "", "mode 640 lets others read the bootstrap token"),
        ("unknown key", 0o600 as mode_t, "surprise: 1", "field 'surprise': unknown key"),
    ])
    func badJoinFileChangesNothing(_ name: String, _ mode: mode_t, _ extra: String, _ message: String) async throws {
        let host = try TemporaryHost()
        try drop(host, joinText(extra: extra), mode: mode)
        let before = try host.snapshot(excluding: [], withTimes: true)
        let pass = await operations(host).converge()
        #expect(!pass.status.ready)
        #expect(pass.status.checks.first?.state == "failed")
        #expect(pass.output.contains("nothing changed"), "\(name): \(pass.output)")
        #expect(pass.changes == 0)
        #expect(try host.snapshot(excluding: [], withTimes: true) == before)
        #expect(host.modules.calls.isEmpty && host.services.calls.isEmpty)
        #expect(pass.output.contains(message), "\(pass.output)")
    }

    @Test func aFailedComponentIsRetryableAndABadJoinFileIsNot() async throws {
        let host = try TemporaryHost()
        try drop(host, joinText())
        host.services.failNext["restart"] = 1
        let failed = await operations(host).converge()
        #expect(!failed.status.ready)
        #expect(failed.retryable)
        #expect(failed.output.contains("restart containerd.service"), "\(failed.output)")
        // The next pass (what systemd's restart of the agent does) finishes the job: containerd
        // started before its config was written, so it is restarted even though no file changes now.
        host.services.calls = []
        let retry = await operations(host).converge()
        #expect(retry.status.ready)
        #expect(host.services.calls.contains("restart containerd.service"), "\(retry.output)")
        #expect(await operations(host).converge().changes == 0)
        try drop(host, joinText(), mode: 0o644)
        #expect(await !operations(host).converge().retryable)
    }

    @Test func resetRemovesEverythingTheJoinFileWrote() async throws {
        let host = try TemporaryHost()
        try drop(host, joinText())
        let original = try host.snapshot()
        #expect(await operations(host).converge().status.ready)
        host.services.calls = []
        #expect(operations(host).reset().exitCode == 0)
        #expect(try host.snapshot() == original)
        #expect(host.services.calls.contains("restart containerd.service"))
        #expect(host.services.calls.contains("disable kubelet.service"))
        // What the pass started, reset stops (its start was journaled ahead like every change).
        #expect(host.services.calls.contains("stop kubeseed-api-balancer.service"), "\(host.services.calls)")
    }
}

/// Every file of the bad join corpus (Tests/Fixtures/bad-join-files), dropped with mode 0600:
/// the agent reports it and the host is byte-for-byte unchanged, with no kmod or D-Bus call.
@Suite struct BadJoinFilesChangeNothing {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bad-join-files")
    static let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()

    @Test(arguments: names + ["<huge>"])
    func zeroWrites(_ name: String) async throws {
        let host = try TemporaryHost()
        let text = name == "<huge>"
            ? String(repeating: "# padding\n", count: 30_000)
            : try String(contentsOf: Self.directory.appendingPathComponent(name), encoding: .utf8)
        try TemporaryHost.write(host.root, JoinFile.defaultPath, text)
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
        let before = try host.snapshot(excluding: [], withTimes: true)
        let pass = await AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0).converge()
        #expect(!pass.status.ready)
        #expect(pass.changes == 0)
        #expect(pass.output.contains("nothing changed"), "\(pass.output)")
        #expect(TokenShapes.leaked(from: text, into: pass.output) == nil, "\(pass.output)")
        #expect(try host.snapshot(excluding: [], withTimes: true) == before)
        #expect(host.modules.calls.isEmpty && host.swap.calls.isEmpty && host.services.calls.isEmpty && host.time.calls.isEmpty)
    }
}
