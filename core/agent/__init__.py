"""The agent: one background process per user running the watcher, the scheduler and the storage, and serving
status, progress and version plans over a local socket (docs/ARCHITECTURE.md, "The agent")."""
