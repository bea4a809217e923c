"""The guard against mass damage: notices ransomware-like bursts of changes and keeps history from aging out."""
