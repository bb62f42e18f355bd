from coatro_cli.cli import main

main()
