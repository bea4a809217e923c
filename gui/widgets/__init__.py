"""Widgets of the main window: the timeline, the preview pane, the drive status banner, backup status."""
