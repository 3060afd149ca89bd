import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

struct JoinFileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join-file",
        abstract: "Mint a join file for a node: a new bootstrap token, the cluster CA, this master's API server (0600).",
        discussion: """
            Writes /var/lib/kubeseed/join-files/NODE.yaml (or --output) in the agent's JoinConfiguration schema, \
            checked with the agent's own parser first. The token's Secret is created in kube-system now if the \
            API server answers, else by the next 'seed init'. The token never appears in output.
            """)
    @Argument(help: "The node's name (lowercase DNS name).") var node: String
    @Option(help: "The node's IP (default: the node picks its default-route address).") var ip: String?
    @Option(name: .customLong("role"), help: "A role label for the node (repeat; default: worker).") var roles: [String] = []
    @Option(help: "How long the token is valid, in hours (1 to 168; default 24, and 2 for a master's file, whose secrets expire with it).")
    var ttlHours: Int?
    @Option(help: "Where to write the join file.") var output: String?

    var isMaster: Bool { roles.contains(ControlPlaneSecrets.role) }

    func validate() throws {
        guard JoinFile.isValidNodeName(node) else { throw ValidationError("'\(node)' is not a node name (lowercase DNS name)") }
        if let ip, !IPAddress.isValid(ip) { throw ValidationError("--ip '\(ip)' is not an IP address") }
        for role in roles where !Validate.isDNSLabel(role) { throw ValidationError("--role '\(role)' is not a role name (a DNS label)") }
        if let ttlHours {
            guard (1...168).contains(ttlHours) else { throw ValidationError("--ttl-hours must be between 1 and 168") }
            guard !isMaster || ttlHours <= 24 else { throw ValidationError("--ttl-hours: a master's join file carries the cluster's keys; at most 24") }
        }
        if isMaster && ip == nil { throw ValidationError("--ip is required with --role control-plane: etcd and the API server listen on it") }
    }

    func run() async throws {
        let lifetime = ttlHours.map { Double($0) * 3600 } ?? (isMaster ? ControlPlaneSecrets.defaultLifetime : 24 * 3600)
        let request = JoinRequest(nodeName: node, nodeIP: ip, roles: roles.isEmpty ? ["worker"] : roles,
                                  expires: Date().addingTimeInterval(lifetime))
        let path = output.map(absolutePath)
        let operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
        let code = await operations.mintJoinFile(request, output: path)
        if code != 0 { throw ExitCode(code) }
    }
}
