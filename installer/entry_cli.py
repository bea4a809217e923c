"""The `timekeep` executable of the PyInstaller bundle: the CLI's entry point, nothing more."""

import sys

from timekeep.core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
