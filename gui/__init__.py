"""Timekeep's desktop application (PySide6) over the engine in `core`."""
