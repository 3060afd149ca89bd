import KubeSeedCommands

/// `seed` has async subcommands (API calls), so it starts from an async entry point. The same binary
/// is `seed-agent` when called by that name: the package ships one binary and a link, not two copies.
@main
struct SeedMain {
    static func main() async {
        if CommandLine.arguments.first?.split(separator: "/").last == "seed-agent" {
            await SeedAgentCommand.main()
        } else {
            await SeedCommand.main()
        }
    }
}
