"""``python -m cx_text`` runs the command-line interface."""

from cx_text.cli.main import main

if __name__ == "__main__":
    main()
