import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// `seed`: the first master's tool. This build has the PKI steps of `seed init`.
public struct SeedCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Turn this machine into the first Kubernetes master (PKI so far; etcd and the control plane follow).",
        subcommands: [PKI.self, Etcd.self, Certs.self])

    public init() {}
}

struct PKI: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the cluster PKI in /etc/kubernetes/cert, reusing what is there (a step of 'seed init').",
        discussion: """
            CA, etcd server and peer, kube-apiserver (every SAN), apiserver→etcd and apiserver→kubelet clients, \\
            controller-manager, scheduler, admin, kube-proxy, front-proxy client, and a service-account key pair. \\
            Keys are 0600. An existing certificate that no longer fits (a new master IP, another CA) is refused \\
            with the reason, never silently regenerated.
            """)
    @Option(name: .customLong("master-ip"), help: "A master's IP (repeat for several).") var masterIPs: [String]
    @Option(name: .customLong("etcd-ip"), help: "An etcd member's IP (default: the master IPs).") var etcdIPs: [String] = []
    @Option(help: "Service CIDR (the first address gets into the API server certificate).") var serviceCIDR = "10.254.0.0/16"
    @Option(help: "Cluster DNS domain.") var clusterDomain = "cluster.local"
    @Option(help: "rsa (RSA-2048, default) or ecdsa (P-256).") var keyAlgorithm = "rsa"

    func validate() throws {
        guard !masterIPs.isEmpty else { throw ValidationError("give at least one --master-ip") }
        for ip in masterIPs + etcdIPs where !IPAddress.isValid(ip) { throw ValidationError("'\(ip)' is not an IP address") }
        guard IPAddress.cidr(serviceCIDR) != nil else { throw ValidationError("--service-cidr '\(serviceCIDR)' is not a CIDR like 10.254.0.0/16") }
        guard KeyAlgorithm(rawValue: keyAlgorithm) != nil else { throw ValidationError("--key-algorithm must be rsa or ecdsa") }
    }

    func run() throws {
        let root = HostRoot()
        guard geteuid() == 0 else { say("seed pki: must run as root\n"); throw ExitCode(1) }
        let parameters = PKIParameters(masterIPs: masterIPs, etcdIPs: etcdIPs.isEmpty ? masterIPs : etcdIPs,
                                       serviceCIDR: serviceCIDR, clusterDomain: clusterDomain)
        let lock = try HostLock.acquire(root)
        defer { close(lock) }
        let started = Date()
        do {
            let journal = try NodeApplier(root: root, effects: try HostEffects.live())
            let entries = try PKIStore(root: root).ensure(parameters, algorithm: KeyAlgorithm(rawValue: keyAlgorithm)!, journal: journal)
            for entry in entries {
                let expiry = entry.notAfter.map { " (valid until \(ISO8601DateFormatter().string(from: $0)))" } ?? ""
                say("  \(entry.outcome.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(entry.name)\(expiry)\n")
            }
            let created = entries.filter { $0.outcome == .created }.count
            say("seed pki: \(created) created, \(entries.count - created) reused in \(Int(Date().timeIntervalSince(started) * 1000)) ms\n")
        } catch {
            say("seed pki: \(error)\n")
            throw ExitCode(1)
        }
    }
}

struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every certificate in /etc/kubernetes/cert with its expiry.")
    @Option(help: "The certificate directory.") var dir = "/etc/kubernetes/cert"

    func run() throws {
        var store = PKIStore(root: HostRoot())
        store.directory = dir
        let certificates = store.list()
        if certificates.isEmpty { say("seed certs: no certificates in \(dir)\n"); throw ExitCode(1) }
        let formatter = ISO8601DateFormatter()
        let width = max(4, certificates.map(\.file.count).max() ?? 0)
        say("FILE".padding(toLength: width, withPad: " ", startingAt: 0) + "  EXPIRES               DAYS  SUBJECT / NAMES\n")
        for cert in certificates {
            let days = cert.notAfter.map { String(Int($0.timeIntervalSinceNow / 86400)) } ?? "-"
            let expires = cert.notAfter.map { formatter.string(from: $0) } ?? "-"
            var line = cert.file.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + expires.padding(toLength: 20, withPad: " ", startingAt: 0)
            line += "  " + days.padding(toLength: 4, withPad: " ", startingAt: 0) + "  " + cert.subject
            if !cert.names.isEmpty { line += " [" + cert.names.joined(separator: ", ") + "]" }
            if let problem = cert.problem { line += "  ← \(problem)" }
            say(line + "\n")
        }
        if certificates.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
    }
}

struct Etcd: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run etcd (Debian's etcd-server) under systemd with mutual TLS, taking over the package's plaintext unit (a step of 'seed init').",
        discussion: """
            Writes /etc/systemd/system/etcd.service (it shadows Debian's plaintext unit of the same name), \
            reloads systemd and starts or restarts etcd only when the unit changed. The unit is Type=notify, so \
            the start job ends only when etcd reports itself ready. Needs the PKI ('seed pki') and the data \
            directories ('seed-agent apply').
            """)
    @Option(help: "This member's name.") var name: String
    @Option(help: "This member's IP.") var ip: String
    @Option(name: .customLong("member"), help: "Every member as NAME=IP (default: this one only).") var members: [String] = []

    func validate() throws {
        guard JoinFile.isValidNodeName(name) else { throw ValidationError("--name '\(name)' is not a DNS name") }
        guard IPAddress.isValid(ip) else { throw ValidationError("--ip '\(ip)' is not an IP address") }
        for member in members {
            let parts = member.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, JoinFile.isValidNodeName(parts[0]), IPAddress.isValid(parts[1]) else {
                throw ValidationError("--member '\(member)' is not NAME=IP")
            }
        }
    }

    func run() throws {
        let root = HostRoot()
        guard geteuid() == 0 else { say("seed etcd: must run as root\n"); throw ExitCode(1) }
        let me = EtcdUnit.Member(name: name, ip: ip)
        let cluster = members.isEmpty ? [me] : members.map {
            let parts = $0.split(separator: "=", maxSplits: 1).map(String.init)
            return EtcdUnit.Member(name: parts[0], ip: parts[1])
        }
        let needed = ["ca.pem", "etcd-server.pem", "etcd-server-key.pem", "etcd-peer.pem", "etcd-peer-key.pem"].map { "/etc/kubernetes/cert/\($0)" }
        let missing = needed.filter { !root.exists($0) } + ["/data/k8s/etcd/data", "/data/k8s/etcd/wal"].filter { !root.isDirectory($0) }
        guard missing.isEmpty else {
            say("seed etcd: nothing changed; missing \(missing.joined(separator: ", ")) (run 'seed-agent apply' and 'seed pki' first)\n")
            throw ExitCode(1)
        }
        let lock = try HostLock.acquire(root)
        defer { close(lock) }
        let started = Date()
        do {
            let effects = try HostEffects.live()
            guard let services = effects.services else { throw HostError(.dbus, "systemd is not reachable", cause: effects.busError) }
            let unit = EtcdUnit.render(this: me, cluster: cluster)
            let changed = try root.readText(EtcdUnit.path) != unit
            let state = try services.unitState("etcd.service")
            var steps: [Step] = []
            if changed { steps += [.writeFile(path: EtcdUnit.path, content: unit, mode: 0o644), .reloadSystemd] }
            if !state.isEnabled { steps.append(.enableUnit("etcd.service")) }
            if changed && state.isActive { steps.append(.restartUnit("etcd.service")) } else if !state.isActive { steps.append(.startUnit("etcd.service")) }
            let applier = try NodeApplier(root: root, effects: effects)
            try applier.apply(steps, observed: NodeObservation())
            for step in applier.performed { say("  changed  \(step)\n") }
            let after = try services.unitState("etcd.service")
            guard after.activeState == "active" else {
                throw HostError(.systemJob, "etcd is \(after.activeState) (\(after.subState))", cause: "see: journalctl -u etcd")
            }
            let millis = Int(Date().timeIntervalSince(started) * 1000)
            say(steps.isEmpty ? "seed etcd: unchanged: etcd active with mutual TLS (\(millis) ms)\n"
                              : "seed etcd: etcd ready with mutual TLS on https://\(ip):2379 (\(applier.performed.count) changes, \(millis) ms)\n")
        } catch {
            say("seed etcd: \(error)\n")
            throw ExitCode(1)
        }
    }
}
