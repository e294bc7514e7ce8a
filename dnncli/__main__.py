from dnncli.cli.app import main

main()
