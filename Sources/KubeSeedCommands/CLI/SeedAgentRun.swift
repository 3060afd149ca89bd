import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The node agent (seed-agent.service): converge from the join file, report readiness, wait for changes.",
        discussion: """
            Validates the join file, prepares the node, writes containerd / kubelet / kube-proxy configuration and \
            units, starts what can run, then sends READY=1 and waits (inotify) for the join file or /opt/k8s/bin to \
            change, or for an image archive in /var/lib/kubeseed/images (imported into containerd's k8s.io \
            namespace; checked against SHA256SUMS there when present). Once the kubelet has its client certificate, it also asks every minute which API servers the \
            default/kubernetes EndpointSlice lists, and points the node-local balancer at them when they changed. \
            An invalid join file changes nothing; the agent reports why and waits for a fix.
            """)
    @Option(help: "The join file.") var join = JoinFile.defaultPath
    @Flag(help: "One pass, then exit (0 when ready).") var once = false

    func run() async throws {
        let service = AgentService(operations: try liveOperations(root: HostRoot(), settings: NodePrepSettings()), joinPath: absolutePath(join))
        switch try await service.run(once: once) {
        case .once(let ready): throw ExitCode(ready ? 0 : 1)
        case .restartWanted, .passesDone: throw ExitCode(1)
        }
    }
}
