import ArgumentParser
import KubeSeedCore
import KubeSeedHost

struct Upgrade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Upgrades: what runs and what the skew policy allows.", subcommands: [Plan.self])

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every API server's release and each node's kubelet and kube-proxy, and check a target against the skew policy.",
            discussion: """
                The skew policy: API servers move one minor at a time and never back; kubelets and kube-proxy are never \\
                newer than an API server and at most two minors older (three from 1.28); so masters first, then nodes. \\
                Exit 1 when something is in the way of --to (each named) or the API does not answer.
                """)
        @Option(help: "The release to check (vMAJOR.MINOR.PATCH).") var to: String?

        func run() async throws {
            var target: KubernetesVersion?
            if let to {
                guard let parsed = KubernetesVersion(to) else { say("seed upgrade plan: --to \(Validate.shown(to)) is not vMAJOR.MINOR.PATCH\n"); throw ExitCode(2) }
                target = parsed
            }
            let code = try await MasterOperations.live("seed upgrade plan").upgradePlan(to: target)
            if code != 0 { throw ExitCode(code) }
        }
    }
}
