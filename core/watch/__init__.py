"""Dynamic change detection (claims 7–9): watch protected folders and turn what changes into dirty paths."""
