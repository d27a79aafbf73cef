from opsagent.cli import main

if __name__ == "__main__":  # a guard: process pools (spawn) import the main module again
    main()
