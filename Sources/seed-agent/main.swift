import KubeSeedCommands

SeedAgentCommand.main()
