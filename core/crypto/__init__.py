"""Encryption at rest: the repository key, the slots that wrap it, and where the passphrase comes from."""
