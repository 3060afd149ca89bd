import ArgumentParser
import KubeSeedCore
import KubeSeedHost

struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Nodes of the cluster.", subcommands: [Remove.self])

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a node out of the cluster: cordon, evict its pods, delete the Node, its tokens and its address-book entry.",
            discussion: """
                Pods are evicted through the Eviction API, so PodDisruptionBudgets hold; one they refuse is asked again \\
                until --timeout, then the command stops with the node cordoned, or with --force deletes it. DaemonSet and \\
                static pods go with the node. A master is refused while it is an etcd member: run 'seed-agent reset' on it \\
                first. Afterwards the CSR approver never approves a serving certificate under the node's name; on the node itself, \\
                'seed-agent reset' undoes what KubeSeed did there.
                """)
        @Argument(help: "The node's name.") var name: String
        @Flag(help: "Delete the pods a PodDisruptionBudget still refuses after --timeout.") var force = false
        @Option(help: "Seconds to keep asking for evictions.") var timeout = 300

        func run() async throws {
            try requireOption(timeout, in: 1...86400, "--timeout", "seed node remove")
            let code = try await MasterOperations.live("seed node remove").removeNode(name, force: force, timeout: .seconds(timeout))
            if code != 0 { throw ExitCode(code) }
        }
    }
}
