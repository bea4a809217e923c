"""Storage-time policy and destination rotation: pure decisions, no timers and no threads."""
