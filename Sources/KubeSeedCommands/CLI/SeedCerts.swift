import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every certificate in \(NodePaths.certDir) with its expiry.")
    @Option(help: "The certificate directory.") var dir = NodePaths.certDir

    func run() throws {
        var store = PKIStore(root: HostRoot())
        store.directory = dir
        let certificates = store.list()
        if certificates.isEmpty { say("seed certs: no certificates in \(dir)\n"); throw ExitCode(1) }
        let width = max(4, certificates.map(\.file.count).max() ?? 0)
        say("FILE".padding(toLength: width, withPad: " ", startingAt: 0) + "  EXPIRES               DAYS  SUBJECT / NAMES\n")
        for cert in certificates {
            let days = cert.notAfter.map { String(Int($0.timeIntervalSinceNow / 86400)) } ?? "-"
            let expires = cert.notAfter.map(Timestamp.string) ?? "-"
            var line = cert.file.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + expires.padding(toLength: 20, withPad: " ", startingAt: 0)
            line += "  " + days.padding(toLength: 4, withPad: " ", startingAt: 0) + "  " + cert.subject
            if !cert.names.isEmpty { line += " [" + cert.names.joined(separator: ", ") + "]" }
            if let problem = cert.problem { line += "  ← \(problem)" }
            say(line + "\n")
        }
        if certificates.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
    }
}
