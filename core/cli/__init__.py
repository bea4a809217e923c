"""The `timekeep` command line: argument parsing, commands over `core.api`, and how results are printed."""
