import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

/// `seed-agent`: prepares a node for Kubernetes.
public struct SeedAgentCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "seed-agent",
        abstract: "Prepare this node for Kubernetes: kernel modules, sysctls, swap, SELinux, time, directories.",
        subcommands: [Check.self, Apply.self, Reset.self])

    public init() {}
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Agent config file (default: \(AgentConfig.defaultPath); defaults apply when it is absent).")
    var config: String?

    func operations() throws -> AgentOperations {
        let root = HostRoot()
        let settings: NodePrepSettings
        do {
            settings = try AgentOperations.loadSettings(root: root, path: config)
        } catch {
            FileHandle.standardError.write(Data("seed-agent: \(error)\nseed-agent: nothing changed\n".utf8))
            throw ExitCode(2)
        }
        let effects: HostEffects
        do {
            effects = try HostEffects.live()
        } catch {
            FileHandle.standardError.write(Data("seed-agent: \(error)\n".utf8))
            throw ExitCode(1)
        }
        return AgentOperations(root: root, effects: effects, settings: settings, effectiveUID: geteuid())
    }
}

func finish(_ outcome: AgentOperations.Outcome) throws {
    FileHandle.standardOutput.write(Data(outcome.output.utf8))
    if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read-only preflight: what is ok, what apply will change, what fails. Changes nothing.")
    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws { try finish(try options.operations().check(json: json)) }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prepare the node. Writes only what differs; every change is journaled for 'reset'.")
    @OptionGroup var options: ConfigOption

    func run() throws { try finish(try options.operations().apply()) }
}

struct Reset: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore everything 'apply' changed, from its journal.")
    @OptionGroup var options: ConfigOption

    func run() throws { try finish(try options.operations().reset()) }
}
