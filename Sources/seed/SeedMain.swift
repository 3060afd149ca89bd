import Dispatch
import Glibc
import KubeSeedCommands
import KubeSeedHost

/// One binary: `seed`, and `seed-agent` when called by that name (the package ships one binary and a link,
/// not two copies). Both have async subcommands (API calls). `seed-agent` runs its async code on the main
/// thread (`CallerThreadExecutor`): the node agent sleeps for hours between passes, and a thread pool
/// behind Swift's global executor would wake it every second. `seed` runs on the global executor.
@main
struct SeedMain {
    static func main() {
        if CommandLine.arguments.first?.split(separator: "/").last == "seed-agent" {
            try? CallerThreadExecutor().run(runAgent)
            exit(0)
        }
        Task {
            await SeedCommand.main()
            exit(0)
        }
        dispatchMain()
    }

    /// Not isolated to the main actor (as `main` is): run on the calling thread's executor, it must not
    /// wait for the main queue, which nothing drains there.
    nonisolated static func runAgent() async {
        await SeedAgentCommand.main()
    }
}
