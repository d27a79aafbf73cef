from opsagent.cli import main

main()
