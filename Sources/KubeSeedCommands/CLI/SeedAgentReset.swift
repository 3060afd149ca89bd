import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct Reset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore everything 'apply' changed, from its journal.",
        discussion: """
            On a master, first removes its etcd member through a healthy peer, so the members that stay keep a \
            correct quorum; refuses (exit 2, nothing changed) when the voting members left that answer would not \
            be a majority, or when no member answers, unless --force.
            """)
    @OptionGroup var options: ConfigOption
    @Flag(help: "On a master: reset even when its etcd member cannot be removed safely.") var force = false

    func run() async throws {
        var agent = try options.operations()
        // A reset waits for a pass of the agent under way, as seed's commands do.
        agent.location.lockWait = .seconds(120)
        guard agent.effectiveUID == 0 else { try finish(agent.reset()) ; return }
        // One session from leaving etcd to the last restored file: nothing of KubeSeed's runs in between.
        let outcome: AgentOperations.Outcome?
        do {
            outcome = try await HostSession.with(agent.root, effects: agent.effects, at: agent.location) { session in
                let leave = await MasterOperations(root: agent.root, effects: agent.effects, effectiveUID: agent.effectiveUID).leaveEtcd(force: force)
                say(leave.output)
                return leave.refused ? nil : agent.reset(in: session)
            }
        } catch {
            say("seed-agent reset: nothing changed: \(error)\n")
            throw ExitCode(1)
        }
        guard let outcome else { throw ExitCode(2) }
        try finish(outcome)
    }
}
