"""A repository in a bucket while the bucket is out of reach: its history browsed from this computer's own
index of it, read-only, every read that needs the bucket refused in one line."""
