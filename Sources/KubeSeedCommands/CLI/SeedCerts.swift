import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

/// `seed certs`: list (the default) and renew.
struct Certs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the cluster's certificates with their expiry, or renew them.",
        subcommands: [CertsList.self, CertsRenew.self], defaultSubcommand: CertsList.self)
}

struct CertsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every certificate in \(NodePaths.certDir) and in the kubeconfigs KubeSeed wrote, with its expiry.",
        discussion: "Exits 1 when one has expired, ends within the window, or cannot be read.")
    @Option(help: "The certificate directory.") var dir = NodePaths.certDir
    @Option(help: "Days before expiry a certificate is reported.") var windowDays = 30
    @Option(help: ArgumentHelp("Treat this directory as /.", visibility: .hidden)) var root = "/"

    func run() throws {
        try requireOption(windowDays, in: 1...3650, "--window-days", "seed certs", changesNothing: false)
        var store = PKIStore(root: HostRoot(path: root))
        store.directory = dir
        let certificates = store.list(kubeconfigs: KubeconfigCredential.paths, window: TimeInterval(windowDays) * 86400)
        if certificates.isEmpty { say("seed certs: no certificates in \(dir)\n"); throw ExitCode(1) }
        let width = max(4, certificates.map(\.source.count).max() ?? 0)
        say("FILE".padding(toLength: width, withPad: " ", startingAt: 0) + "  EXPIRES               DAYS  SUBJECT / NAMES\n")
        for cert in certificates {
            let days = cert.notAfter.map { String(Int($0.timeIntervalSinceNow / 86400)) } ?? "-"
            let expires = cert.notAfter.map(Timestamp.string) ?? "-"
            var line = cert.source.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + expires.padding(toLength: 20, withPad: " ", startingAt: 0)
            line += "  " + days.padding(toLength: 4, withPad: " ", startingAt: 0) + "  " + cert.subject
            if !cert.names.isEmpty { line += " [" + cert.names.joined(separator: ", ") + "]" }
            if let problem = cert.problem { line += "  ← \(problem)" }
            say(line + "\n")
        }
        if certificates.contains(where: { $0.problem != nil }) {
            say("seed certs: renew with 'seed certs renew --due --window-days \(windowDays)' (a CA is renewed by hand: README, 'Rotating a CA')\n")
            throw ExitCode(1)
        }
    }
}

struct CertsRenew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Issue certificates again from the same CA, with new keys of the same algorithm, and restart what reads them.",
        discussion: """
            Renews the named leaf certificates (\(ClusterPKI.leafNames.joined(separator: ", "))), all of them (--all), or \
            those ending within --window-days (--due; the daily kubeseed-certs-renew.timer runs this). The subject and names \
            are what the cluster configuration asks for now. The files are written atomically and journaled; the kubeconfigs \
            that embed a renewed certificate are written again, and only the units that read a renewed file restart: etcd \
            first (healthy before the next), then kube-apiserver (ready before the next), then the rest. Run it on one master \
            at a time. The CAs are never renewed here.
            """)
    @Argument(help: "Certificates to renew, by name.") var names: [String] = []
    @Flag(help: "Renew every leaf certificate.") var all = false
    @Flag(help: "Renew those that end within --window-days.") var due = false
    @Option(help: "Days before expiry a certificate is due (with --due).") var windowDays = 30
    @Option(help: "Seconds to wait for a restarted API server to become ready.") var apiTimeout = 300
    @OptionGroup var options: ClusterOptions

    func run() async throws {
        try requireOption(windowDays, in: 1...3650, "--window-days", "seed certs renew")
        try requireOption(apiTimeout, in: MasterOperations.apiTimeoutRange, "--api-timeout", "seed certs renew")
        let root = HostRoot(path: options.root)
        let cluster = try options.load("seed certs renew", root: root)
        var operations = try options.operations("seed certs renew")
        operations.apiServerTimeout = .seconds(apiTimeout)
        let code = try await operations.renewCertificates(cluster, source: options.source, names: names, all: all,
                                                                                   dueWithinDays: due ? windowDays : nil)
        if code != 0 { throw ExitCode(code) }
    }
}
