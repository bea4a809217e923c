"""The `timekeep` executable of the PyInstaller bundle: the CLI's entry point, nothing more."""

from timekeep.core.cli.main import entry

if __name__ == "__main__":
    entry()
