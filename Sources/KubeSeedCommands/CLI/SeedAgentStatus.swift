import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the running agent last reported: every check with its state and reason.")
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let root = HostRoot()
        if CurrentProcess.effectiveUID != 0 && root.exists(AgentStatus.defaultPath) && !root.isReadable(AgentStatus.defaultPath) {
            print("seed-agent status: \(AgentStatus.defaultPath) is root's alone (it describes the join file); run as root")
            throw ExitCode(4)
        }
        guard let data = try root.read(AgentStatus.defaultPath) else {
            print("seed-agent is not running or has not finished a pass (no \(AgentStatus.defaultPath)); see: systemctl status seed-agent")
            throw ExitCode(3)
        }
        let status = try JSONDecoder().decode(AgentStatus.self, from: data)
        print(json ? String(decoding: status.encoded(), as: UTF8.self) : status.table(), terminator: json ? "\n" : "")
        if !status.ready { throw ExitCode(1) }
    }
}
