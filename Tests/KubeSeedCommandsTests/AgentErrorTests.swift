import Foundation
import Glibc
import KubeSeedCore
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedHost
import KubeSeedHostFakes

/// What the agent's errors say and whether they are worth a restart, against a temporary root.
@Suite struct AgentErrorTests {
    @Test func nodeIdentityErrorsNameTheFileThatWasRead() async throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, "/proc/sys/kernel/hostname", "worker_7\n")
        let path = "/root/elsewhere/join.yaml"
        let text = ConvergeTests().joinText()
        try TemporaryHost.write(host.root, path, text)
        chmod(host.root.resolve(path), 0o600)
        let pass = await AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0).converge(joinPath: path)
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
}
