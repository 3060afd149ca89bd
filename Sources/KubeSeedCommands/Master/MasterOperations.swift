import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// The master's operations (`seed init` and its single phases, `seed join-file`, `seed token`), apart
/// from argument parsing, so tests drive them against a temporary root with fake effects.
public struct MasterOperations {
    public var root: HostRoot
    public var effects: HostEffects
    public var effectiveUID: UInt32
    /// Where this master's sessions take the lock (waiting up to 120 s for an agent's pass to let it go)
    /// and keep the journal.
    public var location = HostSession.Location(lockWait: .seconds(120))
    public var certDirectory = ControlPlane.certDir
    /// Where each progress line goes.
    public var write: (String) -> Void = say
    public var etcdTimeout: Duration = .seconds(60)
    /// How long a restarted or started kube-apiserver may take to answer `/readyz`: `--api-timeout` where a
    /// command has it (seed init and join: 180 s; the day-2 commands: 300 s, as restarts took up to 171 s
    /// on an emulated guest).
    public var apiServerTimeout: Duration = .seconds(300)
    /// What `--api-timeout` may be on the day-2 commands (seconds).
    public static let apiTimeoutRange = 10...3600
    /// Opens every client to the API server and etcd: mutual TLS; unit tests give in-memory ones.
    public var connect: APIConnect = MutualTLSClient.connect
    /// The addresses on this host's interfaces (a joining master's IP must be one of them).
    public var localAddresses: () -> [String] = interfaceAddresses

    public init(root: HostRoot, effects: HostEffects, effectiveUID: UInt32) {
        self.root = root
        self.effects = effects
        self.effectiveUID = effectiveUID
    }

    public static let controlPlaneUnits = zip(ControlPlane.unitNames + [ControlPlane.csrApproverUnit, ControlPlane.certsRenewTimer, ControlPlane.etcdSnapshotTimer],
                                              ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-apiserver", "kube-apiserver", "kube-apiserver"]).map {
        ComponentPlanner.ManagedUnit($0.0, binary: $0.1, installHint: "kubernetes-server-linux-amd64.tar.gz: seed init --server-archive FILE",
                                     runsBinary: ControlPlane.unitNames.contains($0.0))
    }

    func hostname() -> String {
        (((try? root.readText("/proc/sys/kernel/hostname")) ?? nil) ?? "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// Fills in the master's name and IP and checks them against what an earlier `seed init` recorded.
    /// - Parameter needsName: whether the phases to run need the master's name (the PKI does not).
    public func resolve(_ config: ClusterConfig, source: String, needsName: Bool = true) throws -> ClusterConfig {
        var config = config
        if config.masterName == nil {
            let name = hostname()
            if JoinFile.isValidNodeName(name) {
                config.masterName = name
            } else if needsName {
                throw ConfigError(.invalidValue, file: source, field: "master.name", "the host name '\(name)' is not a valid node name; set master.name or --name")
            }
        }
        if config.masterIP == nil {
            let route = (try? effects.network?.defaultRoute()) ?? nil
            guard let address = route?.address else {
                throw ConfigError(.missingField, file: source, field: "master.ip", "no default route to take the master IP from; set master.ip or --master-ip")
            }
            config.masterIP = address
        }
        if let before = try recordedConfig(), let (field, old, new) = config.fixedFieldChange(from: before) {
            throw ConfigError(.invalidValue, file: source, field: field,
                              "this master was set up with \(old) (recorded in \(ClusterConfig.recordPath)); it cannot change to \(new) in place — run 'seed-agent reset' first to start over")
        }
        return config
    }

    /// The configuration an earlier `seed init` recorded; `nil` before the first.
    func recordedConfig() throws -> ClusterConfig? {
        guard let text = try root.readText(ClusterConfig.recordPath) else { return nil }
        return try ClusterConfig.parse(text, file: ClusterConfig.recordPath)
    }

    /// The client pair `certificate`, verifying servers with `ca` (the cluster CA unless named).
    func identity(_ certificate: String, ca: String = "ca.pem") throws -> TLSIdentity {
        func read(_ name: String) throws -> String {
            guard let text = try root.readText("\(certDirectory)/\(name)") else { throw HostError(.file, "\(certDirectory)/\(name) is missing", cause: "run 'seed init' again") }
            return text
        }
        return TLSIdentity(caPEM: try read(ca), certificatePEM: try read("\(certificate).pem"), keyPEM: try read("\(certificate)-key.pem"))
    }

    /// This master's client identity for etcd: the API server's etcd client pair, verifying etcd with the
    /// etcd CA (with the cluster CA on a PKI made before the etcd CA, until `seed init` moves it).
    func etcdIdentity() throws -> TLSIdentity {
        try identity("apiserver-etcd-client", ca: root.exists("\(certDirectory)/\(EtcdUnit.caFile)") ? EtcdUnit.caFile : "ca.pem")
    }

    static func url(_ ip: String, _ port: Int) -> String { IPAddress.httpsURL(ip, port: port) }

    /// Runs `body` with a mutual-TLS client presenting `certificate`, and closes the client after.
    func withClient<T>(_ baseURL: String, presenting certificate: String, connectTimeout: Duration = .seconds(3),
                       _ body: (any APIClient) async throws -> T) async throws -> T {
        try await withClient(baseURL, identity: identity(certificate), connectTimeout: connectTimeout, body)
    }

    /// Runs `body` with a mutual-TLS client presenting `identity`, and closes the client after.
    func withClient<T>(_ baseURL: String, identity: TLSIdentity, connectTimeout: Duration = .seconds(3),
                       _ body: (any APIClient) async throws -> T) async throws -> T {
        try await connect(baseURL, identity, APITimeouts(connect: connectTimeout)).closing(after: body)
    }

    /// Runs `body` with one client per etcd endpoint presenting `identity`, and closes them after.
    func withEtcdClients<T>(_ endpoints: [String], identity: TLSIdentity, connectTimeout: Duration = .seconds(3),
                            _ body: (EtcdClusterClient) async throws -> T) async throws -> T {
        let clients = try endpoints.map { try connect($0, identity, APITimeouts(connect: connectTimeout)) }
        do {
            let result = try await body(EtcdClusterClient(clients: clients))
            for client in clients { await client.shutdown() }
            return result
        } catch {
            for client in clients { await client.shutdown() }
            throw error
        }
    }

    /// The etcd members as this master's etcd reports them (apiserver-etcd-client credentials).
    /// Asked `attempts` times half a second apart: a loaded host (three emulated guests on two cores) can
    /// take more than a second for the TLS handshake, and a missed answer skips checks that need it.
    func localEtcdMembers(attempts: Int = 1, connectTimeout: Duration = .seconds(1)) async throws -> [EtcdMember] {
        guard let ip = try recordedConfig()?.masterIP else {
            throw HostError(.file, "\(ClusterConfig.recordPath) is missing", cause: "run 'seed init' on this master first")
        }
        var attempt = 1
        while true {
            do {
                return try await withEtcdClients([Self.url(ip, 2379)], identity: etcdIdentity(), connectTimeout: connectTimeout) { try await $0.list().members }
            } catch let error as EtcdMembership.AnswerError {
                throw error
            } catch where attempt < attempts {
                attempt += 1
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Every master's API server, as the etcd members say (stacked etcd: each master runs one);
    /// `nil` when etcd does not answer (the caller falls back to the recorded master).
    func knownAPIServerEndpoints() async -> [String]? {
        guard let members = try? await localEtcdMembers(attempts: 2, connectTimeout: .seconds(3)) else { return nil }
        let endpoints = EtcdMembership.apiServerEndpoints(members)
        return endpoints.isEmpty ? nil : endpoints
    }
}
