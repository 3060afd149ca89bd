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
        var installed = VersionSkew.Installed()
        let endpoints = await knownAPIServerEndpoints() ?? [Self.url(ip, 6443)]
        do {
            for endpoint in endpoints {
                let version: KubernetesVersion? = try? await withClient(endpoint, presenting: "admin") { client in
                    VersionSkew.apiServerVersion(in: try await client.send(APIRequest(.get, "/version", object: "version"), timeout: .seconds(10)).body)
                }
                write("API server \(endpoint)  \(version?.description ?? "did not answer")\n")
                if let version { installed.apiServers[endpoint] = version }
            }
            let nodes = try await withClient(Self.url(ip, 6443), presenting: "admin") { client in
                try await client.send(APIRequest(.get, "/api/v1/nodes", object: "nodes"), timeout: .seconds(30))
            }
            guard nodes.status == 200 else { throw APIError(.status, "GET /api/v1/nodes answered \(nodes.status)") }
            (installed.kubelets, installed.kubeProxies) = try VersionSkew.nodeVersions(in: nodes.body)
        } catch {
            write("\(command): \(error)\n")
            return 1
        }
        for node in installed.kubelets.keys.sorted() {
            write("node \(node)  kubelet \(installed.kubelets[node]!)  kube-proxy \(installed.kubeProxies[node]?.description ?? "-")\n")
        }
        guard let target else { return 0 }
        var problems = VersionSkew.controlPlaneProblems(installed, to: target)
        if installed.apiServers.count < endpoints.count { problems.append("not every API server answered: each must be known before an upgrade") }
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
