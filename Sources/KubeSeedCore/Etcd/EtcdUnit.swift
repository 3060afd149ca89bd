/// etcd as a systemd unit with mutual TLS on clients and peers (the guide's chapter 04, current flags).
public enum EtcdUnit {
    /// Shadows Debian's /lib/systemd/system/etcd.service (plaintext on 127.0.0.1) with the same name.
    public static let path = "/etc/systemd/system/etcd.service"
    public static let binary = "/usr/bin/etcd"
    /// The one CA etcd trusts, for clients and peers: the etcd CA (`ClusterPKI.etcdCAName`), never the cluster CA.
    public static let caFile = "etcd-ca.pem"

    public struct Member: Sendable, Equatable {
        public var name: String
        public var ip: String
        public init(name: String, ip: String) {
            self.name = name
            self.ip = ip
        }
    }

    /// How the member starts: founding a cluster, or joining one whose members already run.
    public enum ClusterState: String, Sendable { case new, existing }

    /// The unit for `member` in `cluster`; `settings` says where the data and WAL live. A member
    /// joining a running cluster (`.existing`) was added to it first (as a learner) through etcd's API.
    public static func render(this member: Member, cluster: [Member], state: ClusterState = .new, certDir: String = NodePaths.certDir,
                              settings: NodePrepSettings = NodePrepSettings(), timing: ControlPlaneTiming = ControlPlaneTiming()) -> String {
        let dataDir = settings.etcdDataDir, walDir = settings.etcdWALDir
        func url(_ ip: String, _ port: Int) -> String { IPAddress.httpsURL(ip, port: port) }
        let flags = [
            "--name=\(member.name)",
            "--data-dir=\(dataDir)",
            "--wal-dir=\(walDir)",
            "--cert-file=\(certDir)/etcd-server.pem",
            "--key-file=\(certDir)/etcd-server-key.pem",
            "--trusted-ca-file=\(certDir)/\(caFile)",
            "--client-cert-auth",
            "--peer-cert-file=\(certDir)/etcd-peer.pem",
            "--peer-key-file=\(certDir)/etcd-peer-key.pem",
            "--peer-trusted-ca-file=\(certDir)/\(caFile)",
            "--peer-client-cert-auth",
            "--listen-peer-urls=\(url(member.ip, 2380))",
            "--initial-advertise-peer-urls=\(url(member.ip, 2380))",
            "--listen-client-urls=\(url(member.ip, 2379)),https://127.0.0.1:2379",
            "--advertise-client-urls=\(url(member.ip, 2379))",
            "--initial-cluster-token=kubeseed-etcd",
            "--initial-cluster=\(cluster.map { "\($0.name)=\(url($0.ip, 2380))" }.joined(separator: ","))",
            "--initial-cluster-state=\(state.rawValue)",
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=1",
            "--max-request-bytes=33554432",
            "--quota-backend-bytes=6442450944",
        ] + timing.etcdFlags
        return SystemdUnit(comment: "Written by KubeSeed (seed etcd); changes here are overwritten.", [
            .init("Unit", [
                ("Description", .text("etcd for Kubernetes (mutual TLS; KubeSeed)")),
                ("Documentation", .text("https://etcd.io/docs/")),
                ("After", .text("network-online.target")),
                ("Wants", .text("network-online.target")),
            ]),
            .init("Service", [
                ("Type", .text("notify")),
                ("WorkingDirectory", .text(dataDir)),
                ("ExecStart", .command(binary, flags)),
                ("Restart", .text("on-failure")), ("RestartSec", .text("5")), ("LimitNOFILE", .text("65536")),
                // etcd's tuning guide: a member starved of CPU or disk misses heartbeats and calls
                // elections; the API server and kubelet beside it on a master must not starve it.
                ("CPUWeight", .text("1000")), ("Nice", .text("-10")),
                ("IOSchedulingClass", .text("best-effort")), ("IOSchedulingPriority", .text("0")),
            ]),
            .init("Install", [("WantedBy", .text("multi-user.target"))]),
        ]).render()
    }
}

/// Reading back an etcd unit KubeSeed wrote.
extension EtcdUnit {
    /// The host of `--initial-advertise-peer-urls` in an etcd unit KubeSeed wrote.
    public static func advertisedPeerHost(_ unit: String) -> String? {
        flagValue("--initial-advertise-peer-urls=", in: unit).flatMap(APIEndpoint.parse)?.host
    }

    /// The peer hosts of `--initial-cluster` in an etcd unit KubeSeed wrote.
    public static func initialClusterHosts(_ unit: String) -> [String] {
        (flagValue("--initial-cluster=", in: unit) ?? "").split(separator: ",").compactMap { entry in
            entry.split(separator: "=", maxSplits: 1).last.flatMap { APIEndpoint.parse(String($0))?.host }
        }
    }

    /// The value of the `--FLAG=` word `prefix` names in an etcd unit KubeSeed wrote (one flag a line).
    public static func flagValue(_ prefix: String, in unit: String) -> String? {
        for line in unit.split(separator: "\n") {
            let word = line.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            if word.hasPrefix(prefix) { return String(word.dropFirst(prefix.count)) }
        }
        return nil
    }

    /// Whether `unit` is the one member `name` got when it joined a running cluster (`existing`): kept as
    /// written once the member has started, since etcd reads `--initial-cluster` only at that first start.
    public static func isJoinedUnit(_ unit: String, name: String) -> Bool {
        unit.contains("--initial-cluster-state=\(ClusterState.existing.rawValue)") && unit.contains("--name=\(name) ")
    }

    /// `unit` trusting the etcd CA where a unit written before etcd had a CA of its own trusted the cluster CA.
    public static func trustingEtcdCA(_ unit: String, certDir: String = NodePaths.certDir) -> String {
        unit.replacingOccurrences(of: "trusted-ca-file=\(certDir)/ca.pem", with: "trusted-ca-file=\(certDir)/\(caFile)")
    }
}
