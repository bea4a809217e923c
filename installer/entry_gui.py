"""The `timekeep-gui` executable of the PyInstaller bundle: the desktop app's entry point, nothing more."""

import sys

from timekeep.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
