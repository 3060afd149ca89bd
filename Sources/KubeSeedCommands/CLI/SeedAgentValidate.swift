import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct ValidateJoin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate a join file without changing anything: exit 0 when valid, 2 with the field and line when not.")
    @Argument(help: "The join file.") var file = JoinFile.defaultPath

    func run() throws {
        let path = absolutePath(file)
        do {
            let join = try AgentOperations.loadJoinFile(root: HostRoot(), path: path, effectiveUID: CurrentProcess.effectiveUID)
            say("\(path): valid: cluster \(join.clusterName) (\(join.kubernetesVersion)) at \(join.apiServerEndpoints.joined(separator: ", ")); token \(join.token) expires \(Timestamp.string(join.tokenExpires))\n")
        } catch {
            CurrentProcess.writeError("seed-agent: \(error)\n")
            throw ExitCode(2)
        }
    }
}
