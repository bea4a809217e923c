"""Benchmarks: Timekeep side by side with restic and borg on one generated dataset (never run in CI)."""
