import ArgumentParser
import KubeSeedCore

struct Etcd: InitPhaseShortcut {
    static let configuration = CommandConfiguration(
        commandName: "etcd",
        abstract: "Run etcd (Debian's etcd-server) under systemd with mutual TLS, taking over the package's plaintext unit (the etcd phases of 'seed init').",
        discussion: """
            Reads the same configuration and flags as 'seed init'. Writes /etc/systemd/system/etcd.service (it shadows \
            Debian's plaintext unit of the same name), reloads systemd and starts or restarts etcd only when the unit \
            changed, then waits until etcd answers healthy over mutual TLS. The unit is Type=notify, so the start job \
            ends only when etcd reports itself ready. Needs the PKI ('seed pki') and the data directories ('seed-agent apply').
            """)
    static let phaseNames = ["etcd", "etcd-health"]
    @OptionGroup var options: ClusterOptions
}
