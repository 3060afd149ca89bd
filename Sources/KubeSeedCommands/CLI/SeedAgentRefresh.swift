import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

/// Hidden: one ask of the API server for the API servers there are (what `seed-agent run` does each
/// minute, in a child of its own: the HTTPS client's threads come and go with it). Prints one line; exit 0
/// when the balancer's list changed, 1 when it did not (or could not be asked).
struct RefreshAPIServers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "refresh-api-servers", shouldDisplay: false)
    @Option(help: "The join file.") var join = JoinFile.defaultPath

    func run() async throws {
        let refresh = await try liveOperations(root: HostRoot(), settings: NodePrepSettings()).refreshAPIServers(joinPath: absolutePath(join))
        say(refresh.message + "\n")
        if !refresh.changed { throw ExitCode(1) }
    }
}
