"""The agent (claim 49): one background process per user running the watcher, the scheduler and the storage,
and serving status, progress and version plans over a local socket."""
