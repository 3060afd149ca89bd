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
            say("seed-agent status: \(AgentStatus.defaultPath) is root's alone (it describes the join file); run as root\n")
            throw ExitCode(4)
        }
        guard let data = try root.read(AgentStatus.defaultPath) else {
            say("seed-agent is not running or has not finished a pass (no \(AgentStatus.defaultPath)); see: systemctl status seed-agent\n")
            throw ExitCode(3)
        }
        let status = try JSONDecoder().decode(AgentStatus.self, from: data)
        say(json ? Validate.jsonForOutput(String(decoding: status.encoded(), as: UTF8.self)) + "\n" : status.table())
        if !status.ready { throw ExitCode(1) }
    }
}
