import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

struct PKI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the cluster PKI in \(NodePaths.certDir), reusing what is there (the pki phase of 'seed init').",
        discussion: """
            Reads the same configuration and flags as 'seed init'. CA, etcd server and peer, kube-apiserver (every SAN, \
            extraSANs included), apiserver→etcd and apiserver→kubelet clients, controller-manager, scheduler, admin, \
            kube-proxy, front-proxy client, and a service-account key pair. Keys are 0600. An existing certificate \
            that no longer fits (a new master IP, another CA) is refused with the reason, never silently regenerated.
            """)
    @OptionGroup var options: ClusterOptions

    func run() async throws {
        let root = HostRoot(path: options.root)
        let cluster = try options.load("seed pki", root: root)
        let code = try await options.operations("seed pki").pki(cluster, source: options.source)
        if code != 0 { throw ExitCode(code) }
    }
}
