import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

/// `seed-agent`: prepares a node for Kubernetes.
public struct SeedAgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "seed-agent",
        abstract: "Prepare this node for Kubernetes: kernel modules, sysctls, swap, SELinux, time, directories.",
        subcommands: [Check.self, Apply.self, Reset.self, Run.self, Status.self, ValidateJoin.self, InstallBinaries.self, UnitProbe.self, RefreshAPIServers.self])

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
            CurrentProcess.writeError("seed-agent: \(error)\nseed-agent: nothing changed\n")
            throw ExitCode(2)
        }
        return try liveOperations(root: root, settings: settings)
    }
}

func liveOperations(root: HostRoot, settings: NodePrepSettings) throws -> AgentOperations {
    let effects: HostEffects
    do {
        effects = try HostEffects.live()
    } catch {
        CurrentProcess.writeError("seed-agent: \(error)\n")
        throw ExitCode(1)
    }
    return AgentOperations(root: root, effects: effects, settings: settings, effectiveUID: CurrentProcess.effectiveUID)
}

/// `path` made absolute against the working directory, `.` and `..` components resolved (no symlinks followed).
func absolutePath(_ path: String) -> String {
    let joined = path.hasPrefix("/") ? path : CurrentProcess.workingDirectory + "/" + path
    var components: [Substring] = []
    for component in joined.split(separator: "/") where component != "." {
        if component == ".." { _ = components.popLast() } else { components.append(component) }
    }
    return "/" + components.joined(separator: "/")
}

func say(_ text: String) {
    CurrentProcess.write(text)
}

/// Refuses, before anything changes (exit 2), a number option outside `range`.
func requireOption(_ value: Int, in range: ClosedRange<Int>, _ flag: String, _ command: String, changesNothing: Bool = true) throws {
    guard range.contains(value) else {
        say("\(command): \(changesNothing ? "nothing changed: " : "")\(flag) must be \(range.lowerBound) to \(range.upperBound)\n")
        throw ExitCode(2)
    }
}

func finish(_ outcome: AgentOperations.Outcome) throws {
    say(outcome.output)
    if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
}
