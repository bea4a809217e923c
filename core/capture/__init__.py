"""Capture: scan the protected folders, decide what changed, chunk and store the changed locations."""
