"""The `timekeep` command line: argument parsing, commands over `timekeep.core.api`, and how results are printed."""
