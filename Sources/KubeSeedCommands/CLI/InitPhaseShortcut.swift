import ArgumentParser
import KubeSeedCore
import KubeSeedHost

/// A command that is a named part of `seed init`'s phase list (`seed pki`, `seed etcd`): it reads the same
/// configuration and flags and runs those phases as `seed init phase NAME…` would, under its own name.
protocol InitPhaseShortcut: AsyncParsableCommand {
    /// The phases, by their command names in `InitPhase.initialization`.
    static var phaseNames: [String] { get }
    var options: ClusterOptions { get }
}

extension InitPhaseShortcut {
    /// `seed NAME`, for messages.
    static var commandLine: String { "seed " + (configuration.commandName ?? "") }

    func run() async throws {
        let root = HostRoot(path: options.root)
        let cluster = try options.load(Self.commandLine, root: root)
        let code = try await options.operations(Self.commandLine).initialize(cluster, source: options.source, only: Self.phaseNames, command: Self.commandLine)
        if code != 0 { throw ExitCode(code) }
    }
}
