"""Dynamic change detection (claims 7–9): watch protected folders and coalesce what changes into dirty paths."""
