import KubeSeedCommands

await SeedCommand.main()
