/// The node-local API server balancer: Debian's haproxy on 127.0.0.1:8443 in front of every API server
/// the join file lists (the guide's `kube-nginx`), under a unit KubeSeed owns. Every kubeconfig the
/// agent writes points at it, so kubelet and kube-proxy survive the loss of any one master.
///
/// Health: traffic is watched, and a connection that cannot be made within a second (refused, timed
/// out) takes that server out of rotation at once and is retried on another server, so a master's
/// death costs the request that found it about a second and fails nothing (`observe layer4`,
/// `on-error mark-down`, a redispatch on every retry). Connections already made to a server marked down
/// are left open (no `on-marked-down shutdown-sessions`): haproxy would also close the ones retrying on
/// another server at that moment, and those requests would fail. A TLS check of `/readyz`, verified against the
/// cluster CA, runs every 10 s on a server that is up (an API server that answers but is not ready, or a
/// server the CA did not sign, is out after two failures) and every second on one that is out (two
/// successes put it back). Each check is an etcd quorum read in the API server, and every node checks
/// every master: checks every second from each node would grow with the cluster.
/// The join file's servers stay as haproxy `backup` servers once the cluster's own list replaced them:
/// when every listed server fails its checks (the list was taken during a rolling restart and named
/// one master, and that one went), traffic and the agent's next refresh go to them.
public enum APIBalancer {
    public static let unit = "kubeseed-api-balancer.service"
    public static let configPath = "/etc/kubernetes/api-balancer.cfg"
    public static let unitPath = "/etc/systemd/system/kubeseed-api-balancer.service"
    public static let executable = "/usr/sbin/haproxy"
    public static let listen = APIEndpoint(host: "127.0.0.1", port: 8443)
    /// What every kubeconfig on a node points at.
    public static var server: String { listen.url }
    /// Milliseconds between health checks of a server that is up, while it changes state, and while it
    /// is down; and how many checks in a row change its state.
    public static let checkIntervalMilliseconds = 10_000
    public static let changingCheckIntervalMilliseconds = 1000
    public static let downCheckIntervalMilliseconds = 1000
    public static let checksToChange = 2

    /// haproxy's configuration: one TCP frontend on loopback, one backend with every endpoint.
    public static func config(_ endpoints: [APIEndpoint], fallback: [APIEndpoint] = [], caFile: String = NodePaths.caCertificate) -> String {
        var text = NodeComponents.header + """
        global
            log stdout format short daemon notice
            maxconn 4096
            # Workers drop to Debian's haproxy user once the (root-only) CA file is read.
            user haproxy
            group haproxy

        defaults
            mode tcp
            log global
            option dontlognull
            # A master on the link that does not answer a connect in a second is gone (or stalled).
            timeout connect 1s
            timeout check 2s
            # Watches stay open for minutes.
            timeout client 15m
            timeout server 15m
            # Each retry of a failed connect goes to another server.
            retries 2
            option redispatch 1

        frontend kube-apiserver
            bind \(listen.hostPort)
            default_backend kube-apiservers

        backend kube-apiservers
            balance roundrobin
            option httpchk
            http-check send meth GET uri /readyz
            http-check expect status 200
            default-server check check-ssl verify required ca-file \(caFile) inter \(checkIntervalMilliseconds) fastinter \(changingCheckIntervalMilliseconds) downinter \(downCheckIntervalMilliseconds) fall \(checksToChange) rise \(checksToChange) observe layer4 error-limit 1 on-error mark-down

        """
        // A name is resolved at run time (a master that is not resolvable yet does not keep the balancer down).
        for (index, endpoint) in endpoints.enumerated() {
            let resolving = endpoint.hostIsName ? " init-addr last,libc,none resolvers system" : ""
            text += "    server api-\(index + 1) \(endpoint.hostPort)\(resolving)\n"
        }
        for (index, endpoint) in fallback.enumerated() where !endpoints.contains(endpoint) {
            let resolving = endpoint.hostIsName ? " init-addr last,libc,none resolvers system" : ""
            text += "    server fallback-\(index + 1) \(endpoint.hostPort)\(resolving) backup\n"
        }
        if (endpoints + fallback).contains(where: \.hostIsName) { text += "\nresolvers system\n    parse-resolv-conf\n    hold valid 10s\n" }
        return text
    }

    /// The unit: haproxy in master-worker mode (systemd notified when it listens), the configuration
    /// checked before each start.
    public static func unitFile() -> String {
        SystemdUnit(comment: NodeComponents.commentLine, [
            .init("Unit", [
                ("Description", .text("KubeSeed node-local API server balancer (haproxy on \(listen.hostPort))")),
                ("After", .text("network-online.target")),
                ("Wants", .text("network-online.target")),
                ("ConditionFileIsExecutable", .text(executable)),
            ]),
            .init("Service", [
                ("Type", .text("notify")),
                ("ExecStartPre", .command(executable, ["-c", "-q", "-f", configPath])),
                ("ExecStart", .command(executable, ["-Ws", "-f", configPath])),
                ("Restart", .text("always")), ("RestartSec", .text("2")), ("LimitNOFILE", .text("65536")),
            ]),
            .init("Install", [("WantedBy", .text("multi-user.target"))]),
        ]).render()
    }

    /// The balancer's files for a join file (its endpoints are validated by then).
    public static func files(_ join: JoinFile) -> [RenderedFile] {
        [
            RenderedFile(configPath, config(join.apiServerEndpoints.compactMap(APIEndpoint.parse), fallback: join.fallbackAPIServerEndpoints.compactMap(APIEndpoint.parse)), restarts: [unit]),
            RenderedFile(unitPath, unitFile(), restarts: [unit]),
        ]
    }
}
