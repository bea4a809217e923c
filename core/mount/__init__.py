"""History as a read-only filesystem (FUSE): every snapshot's folders as they were, the newest one, and each
file's versions, for any file manager to browse (docs/ARCHITECTURE.md, "The mount")."""
