import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

/// `seed upgrade plan` on a master.
extension MasterOperations {
    /// Prints what runs (every API server's release, each node's kubelet and kube-proxy, from the API) and,
    /// with `target`, whether the skew policy lets the control plane move to it now and each node after it.
    /// Exit 0: nothing in the way (or no target); 1: something is (each named), or the API did not answer.
    public func upgradePlan(to target: KubernetesVersion?) async -> Int32 {
        let command = "seed upgrade plan"
        guard effectiveUID == 0 else { write("\(command): must run as root (it reads the admin key)\n"); return 1 }
        guard let (_, ip, _) = recordedMaster(command) else { return 1 }
        let installed: VersionSkew.Installed, unanswered: [String]
        do { (installed, unanswered) = try await installedVersions(ip) } catch {
            write("\(command): \(error)\n")
            return 1
        }
        for endpoint in (Array(installed.apiServers.keys) + unanswered).sorted() {
            write("API server \(endpoint)  \(installed.apiServers[endpoint]?.description ?? "not ready")\n")
        }
        guard !installed.apiServers.isEmpty else {
            write("\(command): no API server answered\n")
            return 1
        }
        for node in installed.kubelets.keys.sorted() {
            write("node \(node)  kubelet \(installed.kubelets[node]!)  kube-proxy \(installed.kubeProxies[node]?.description ?? "-")\n")
        }
        guard let target else { return 0 }
        var problems = VersionSkew.controlPlaneProblems(installed, to: target)
        if !unanswered.isEmpty { problems.append("not every API server is ready: each must be, before an upgrade") }
        var after = installed
        for server in after.apiServers.keys { after.apiServers[server] = target }
        let nodeProblems = installed.kubelets.keys.sorted().flatMap { VersionSkew.nodeProblems(after, node: $0, to: target) }
        if problems.isEmpty && nodeProblems.isEmpty {
            write("\(command): \(target) is allowed: the masters first, one at a time, then the nodes\n")
            return 0
        }
        for problem in problems + nodeProblems { write("  ✗ \(problem)\n") }
        write("\(command): not \(target) now\n")
        return 1
    }
}
