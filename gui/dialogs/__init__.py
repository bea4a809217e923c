"""Dialogs: the welcome flow, versions of a file, compare with current, settings."""
