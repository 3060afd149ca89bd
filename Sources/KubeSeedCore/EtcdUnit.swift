/// etcd as a systemd unit with mutual TLS on clients and peers (the guide's chapter 04, current flags).
public enum EtcdUnit {
    /// Shadows Debian's /lib/systemd/system/etcd.service (plaintext on 127.0.0.1) with the same name.
    public static let path = "/etc/systemd/system/etcd.service"
    public static let binary = "/usr/bin/etcd"

    public struct Member: Sendable, Equatable {
        public var name: String
        public var ip: String
        public init(name: String, ip: String) {
            self.name = name
            self.ip = ip
        }
    }

    public static func render(this member: Member, cluster: [Member], certDir: String = "/etc/kubernetes/cert",
                              dataDir: String = "/data/k8s/etcd/data", walDir: String = "/data/k8s/etcd/wal") -> String {
        func url(_ ip: String, _ port: Int) -> String { "https://\(ip.contains(":") ? "[\(ip)]" : ip):\(port)" }
        let flags = [
            "--name=\(member.name)",
            "--data-dir=\(dataDir)",
            "--wal-dir=\(walDir)",
            "--cert-file=\(certDir)/etcd-server.pem",
            "--key-file=\(certDir)/etcd-server-key.pem",
            "--trusted-ca-file=\(certDir)/ca.pem",
            "--client-cert-auth",
            "--peer-cert-file=\(certDir)/etcd-peer.pem",
            "--peer-key-file=\(certDir)/etcd-peer-key.pem",
            "--peer-trusted-ca-file=\(certDir)/ca.pem",
            "--peer-client-cert-auth",
            "--listen-peer-urls=\(url(member.ip, 2380))",
            "--initial-advertise-peer-urls=\(url(member.ip, 2380))",
            "--listen-client-urls=\(url(member.ip, 2379)),https://127.0.0.1:2379",
            "--advertise-client-urls=\(url(member.ip, 2379))",
            "--initial-cluster-token=kubeseed-etcd",
            "--initial-cluster=\(cluster.map { "\($0.name)=\(url($0.ip, 2380))" }.joined(separator: ","))",
            "--initial-cluster-state=new",
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=1",
            "--max-request-bytes=33554432",
            "--quota-backend-bytes=6442450944",
            "--heartbeat-interval=250",
            "--election-timeout=2000",
        ]
        var text = "# Written by KubeSeed (seed etcd); changes here are overwritten.\n"
        text += "[Unit]\nDescription=etcd for Kubernetes (mutual TLS; KubeSeed)\nDocumentation=https://etcd.io/docs/\n"
        text += "After=network-online.target\nWants=network-online.target\n\n"
        text += "[Service]\nType=notify\nWorkingDirectory=\(dataDir)\nExecStart=\(binary)"
        for flag in flags { text += " \\\n  \(flag)" }
        text += "\nRestart=on-failure\nRestartSec=5\nLimitNOFILE=65536\n\n[Install]\nWantedBy=multi-user.target\n"
        return text
    }
}
