import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

struct Etcd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run etcd (Debian's etcd-server) under systemd with mutual TLS, taking over the package's plaintext unit (the etcd phases of 'seed init').",
        discussion: """
            Reads the same configuration and flags as 'seed init'. Writes /etc/systemd/system/etcd.service (it shadows \
            Debian's plaintext unit of the same name), reloads systemd and starts or restarts etcd only when the unit \
            changed, then waits until etcd answers healthy over mutual TLS. The unit is Type=notify, so the start job \
            ends only when etcd reports itself ready. Needs the PKI ('seed pki') and the data directories ('seed-agent apply').
            """)
    @OptionGroup var options: ClusterOptions

    func run() async throws {
        let root = HostRoot(path: options.root)
        let cluster = try options.load("seed etcd", root: root)
        let code = try await options.operations("seed etcd").etcd(cluster, source: options.source)
        if code != 0 { throw ExitCode(code) }
    }
}
