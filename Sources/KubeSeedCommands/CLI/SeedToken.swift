import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The bootstrap tokens 'seed join-file' minted.",
        subcommands: [List.self, Delete.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (id, expiry, node; never the secret).")
        func run() throws {
            let operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
            let code = operations.listTokens()
            if code != 0 { throw ExitCode(code) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a token: its Secret in the cluster, then its record here.")
        @Argument(help: "The token id (the six characters before the dot).") var id: String
        func run() async throws {
            let operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
            let code = await operations.deleteToken(id: id)
            if code != 0 { throw ExitCode(code) }
        }
    }
}
