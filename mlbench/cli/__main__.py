from mlbench.cli.commands import main

main()
