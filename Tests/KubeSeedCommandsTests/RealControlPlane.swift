import Foundation
import Glibc
import KubeSeedAPI
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedPKI
import KubeSeedHostFakes

/// Real etcd (Debian's 3.4) and the real kube-apiserver and kube-controller-manager 1.20.2 (built by
/// Tests/Kubernetes/build-kubernetes.sh) on the loopback address 127.0.0.21, with the PKI, flags and
/// files `seed init` writes, in a temporary root. Not a fake: the tests that use it talk to the real
/// API server. `start()` returns nil, saying why, when the binaries are not on this machine.
final class RealControlPlane: @unchecked Sendable {
    static let address = "127.0.0.21"
    /// What the API server publishes in the `kubernetes` EndpointSlice: a TEST-NET address, never dialled
    /// (every client here connects to `address`), because the agent never points its balancer at loopback.
    static let advertised = "192.0.2.10"
    static var apiURL: String { "https://\(address):6443" }
    static let version = KubernetesVersion(major: 1, minor: 20, patch: 2)

    let host: TemporaryHost
    let binDir: String
    let kubectl: String
    private var processes: [(name: String, process: Process)] = []

    /// Where the built server archive is: `KUBESEED_K8S_DIR`, else the newest ready build in the cache.
    static func buildDirectory() -> String? {
        if let dir = ProcessInfo.processInfo.environment["KUBESEED_K8S_DIR"], FileManager.default.fileExists(atPath: dir + "/ready") { return dir }
        let cache = ProcessInfo.processInfo.environment["KUBESEED_K8S_CACHE"] ?? "/var/cache/kubeseed-k8s"
        let builds = ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).filter { $0.hasPrefix("k8s-") }
            .map { "\(cache)/\($0)" }.filter { FileManager.default.fileExists(atPath: $0 + "/ready") }
        return builds.max { (modified($0) ?? .distantPast) < (modified($1) ?? .distantPast) }
    }

    static func modified(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    static func etcdBinary() -> String? {
        if let path = ProcessInfo.processInfo.environment["KUBESEED_ETCD"], FileManager.default.isExecutableFile(atPath: path) { return path }
        let cache = ProcessInfo.processInfo.environment["KUBESEED_K8S_CACHE"] ?? "/var/cache/kubeseed-k8s"
        let unpacked = ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).filter { $0.hasPrefix("etcd-") }.map { "\(cache)/\($0)/etcd" }
        return (unpacked + ["/usr/bin/etcd"]).first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Why the real control plane cannot run here, or nil when it can.
    static var unavailable: String? {
        if getuid() != 0 { return "needs root (binds 127.0.0.21:6443)" }
        if buildDirectory() == nil { return "no Kubernetes build: run Tests/Kubernetes/build-kubernetes.sh (Tests/test.sh does)" }
        if etcdBinary() == nil { return "no etcd: run Tests/Kubernetes/etcd-binary.sh (Tests/test.sh does)" }
        return nil
    }

    private init(host: TemporaryHost, binDir: String) {
        self.host = host
        self.binDir = binDir
        self.kubectl = binDir + "/kubectl"
    }

    /// Unpacks the three binaries this needs from the server archive, once per test process.
    static let unpacked: String? = {
        guard let build = buildDirectory() else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubeseed-real-bin-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let members = ["kube-apiserver", "kube-controller-manager", "kubectl"].map { "kubernetes/server/bin/\($0)" }
        let status = run("/usr/bin/tar", ["-xzf", build + "/kubernetes-server-linux-amd64.tar.gz", "-C", dir, "--strip-components=3"] + members)
        return status == 0 ? dir : nil
    }()

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The operations `seed` runs, on this temporary root.
    var operations: MasterOperations {
        MasterOperations(root: host.root, effects: host.effects, effectiveUID: 0)
    }

    /// Starts etcd, then the API server and the controller manager with `seed init`'s flags, and waits
    /// for /readyz. Throws with the components' log tails when they do not come up.
    static func start() async throws -> RealControlPlane? {
        guard unavailable == nil, let binDir = unpacked, let etcd = etcdBinary() else { return nil }
        let plane = RealControlPlane(host: try TemporaryHost(), binDir: binDir)
        let root = plane.host.root
        for dir in ["/etc/kubernetes/cert", "/var/lib/kubeseed", "/data/etcd", "/data/k8s/kube-apiserver", "/data/k8s/kube-controller-manager"] {
            try FileManager.default.createDirectory(atPath: root.resolve(dir), withIntermediateDirectories: true)
        }
        var config = ClusterConfig()
        config.name = "real"
        config.kubernetesVersion = version.description
        config.masterName = "master-1"
        config.masterIP = address
        config.host.dataDir = "/data"
        try root.writeAtomically(ClusterConfig.recordPath, Data(config.render().utf8), mode: 0o600)
        var parameters = PKIParameters(masterIPs: [address, advertised], etcdIPs: [address], serviceCIDR: config.serviceCIDR, clusterDomain: config.clusterDomain)
        parameters.extraAPIServerIPs = []
        _ = try PKIStore(root: root).ensure(parameters, algorithm: .ecdsaP256, journal: try ChangeJournal(root: root))

        let cert = root.resolve("/etc/kubernetes/cert")
        let etcdURL = "https://\(address):2379"
        try plane.launch("etcd", etcd, [
            "--name=master-1", "--data-dir=\(root.resolve("/data/etcd"))",
            "--cert-file=\(cert)/etcd-server.pem", "--key-file=\(cert)/etcd-server-key.pem", "--trusted-ca-file=\(cert)/etcd-ca.pem", "--client-cert-auth",
            "--peer-cert-file=\(cert)/etcd-peer.pem", "--peer-key-file=\(cert)/etcd-peer-key.pem", "--peer-trusted-ca-file=\(cert)/etcd-ca.pem", "--peer-client-cert-auth",
            "--listen-peer-urls=https://\(address):2380", "--initial-advertise-peer-urls=https://\(address):2380",
            "--listen-client-urls=\(etcdURL)", "--advertise-client-urls=\(etcdURL)",
            "--initial-cluster=master-1=https://\(address):2380", "--initial-cluster-state=new",
        ])

        var cluster = config.controlPlaneCluster(masterIP: address)
        cluster.etcdEndpoints = [etcdURL]
        let caPEM = try plane.operations.identity("admin").caPEM
        let credentials = try plane.operations.controlPlaneCredentials()
        for file in ControlPlane.files(cluster, caPEM: caPEM, credentials: credentials, encryptionKey: Array(repeating: 7, count: 32))
        where !file.path.hasSuffix(".service") {
            // The controller manager reaches the API server directly here (no node-local balancer).
            let content = file.content.replacingOccurrences(of: APIBalancer.server, with: apiURL)
            try root.writeAtomically(file.path, Data(content.utf8), mode: file.mode)
        }
        func local(_ flag: String) -> String {
            flag.replacingOccurrences(of: "=/etc/kubernetes", with: "=" + root.resolve("/etc/kubernetes"))
                .replacingOccurrences(of: "=/data/", with: "=" + root.resolve("/data") + "/")
        }
        let apiFlags = ControlPlane.apiServerFlags(cluster).map(local).map {
            $0 == "--bind-address=0.0.0.0" ? "--bind-address=\(address)" : $0.hasPrefix("--advertise-address=") ? "--advertise-address=\(advertised)" : $0
        }
        try plane.launch("kube-apiserver", binDir + "/kube-apiserver", apiFlags)
        try await plane.waitReady()
        // Serving on no port: a controller manager of this machine's own may hold 10257.
        let managerFlags = ControlPlane.controllerManagerFlags(cluster).map(local).map { $0.hasPrefix("--secure-port=") ? "--secure-port=0" : $0 }
            .map { $0 == "--leader-elect=true" ? "--leader-elect=false" : $0 }
        try plane.launch("kube-controller-manager", binDir + "/kube-controller-manager", managerFlags)
        return plane
    }

    private func launch(_ name: String, _ binary: String, _ arguments: [String]) throws {
        // setpriv: killed with the test process, even when it crashes.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--pdeathsig", "KILL", "--", binary] + arguments
        let logPath = host.root.resolve("/\(name).log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        processes.append((name, process))
    }

    /// The last lines each component wrote, for a failure's message.
    func logTails() -> String {
        processes.map { name, _ in
            let text = (try? String(contentsOfFile: host.root.resolve("/\(name).log"), encoding: .utf8)) ?? ""
            return "== \(name)\n" + text.split(separator: "\n").suffix(12).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    func waitReady(limit: Duration = .seconds(120)) async throws {
        let client = try MutualTLSClient(baseURL: Self.apiURL, identity: try operations.identity("admin"), connectTimeout: .seconds(2))
        defer { Task { await client.shutdown() } }
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let response = try? await client.send(APIRequest(.get, "/readyz", object: "readyz"), timeout: .seconds(5)), response.status == 200 { return }
            if let exited = processes.first(where: { !$0.process.isRunning }) {
                throw TarError("\(exited.name) exited \(exited.process.terminationStatus):\n\(logTails())")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw TarError("kube-apiserver not ready after \(limit):\n\(logTails())")
    }

    /// The real kubectl, as `admin` unless other credentials are given; returns its exit status and output.
    func kubectl(_ arguments: [String], token: String? = nil, asAdmin: Bool = true) -> (status: Int32, output: String) {
        let cert = host.root.resolve("/etc/kubernetes/cert")
        var base = ["--server=\(Self.apiURL)", "--certificate-authority=\(cert)/ca.pem", "--request-timeout=20s"]
        if let token { base += ["--token=\(token)"] } else if asAdmin { base += ["--client-certificate=\(cert)/admin.pem", "--client-key=\(cert)/admin-key.pem"] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kubectl)
        process.arguments = base + arguments
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": host.root.resolve("/")]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return (-1, "kubectl did not start") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func stop() {
        for (_, process) in processes.reversed() where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
        }
        for (_, process) in processes.reversed() {
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
        processes = []
    }

    deinit { stop() }
}
