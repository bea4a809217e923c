"""Timekeep's engine: capture changed locations, index them, rebuild any version. Never imports Qt."""

__version__ = "0.1.0"
