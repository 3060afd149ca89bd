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
        subcommands: [PKI.self, Certs.self])

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
