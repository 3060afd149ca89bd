import KubeSeedCommands

/// `seed` has async subcommands (API calls), so it starts from an async entry point.
@main
struct SeedMain {
    static func main() async {
        await SeedCommand.main()
    }
}
