import KubeSeedCommands

SeedCommand.main()
