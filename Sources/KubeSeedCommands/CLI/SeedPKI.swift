import ArgumentParser
import KubeSeedCore

struct PKI: InitPhaseShortcut {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Create the cluster PKI in \(NodePaths.certDir), reusing what is there (the pki phase of 'seed init').",
        discussion: """
            Reads the same configuration and flags as 'seed init'. CA, etcd server and peer, kube-apiserver (every SAN, \
            extraSANs included), apiserver→etcd and apiserver→kubelet clients, controller-manager, scheduler, admin, \
            kube-proxy, front-proxy client, and a service-account key pair. Keys are 0600. An existing certificate \
            that no longer fits (a new master IP, another CA) is refused with the reason, never silently regenerated.
            """)
    static let phaseNames = ["pki"]
    @OptionGroup var options: ClusterOptions
}
