"""Item models fed by the engine's queries: the folder tree at T, the snapshots, the versions of one file."""
