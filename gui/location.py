"""Where the window's repository is: a folder (on a drive), or `s3://bucket/prefix` on an S3 server.

A folder travels as a `Path`; a location in a bucket stays text (a `Path` would fold its "//"), and the engine
finds its endpoint in settings.json, where connecting remembered it. What the window says about a drive (its
name, "not connected") has a counterpart for a bucket, chosen here ("bucket backups on nas.local",
"unreachable").
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from timekeep.core.api import is_remote

Location = Path | str  # a folder, or "s3://bucket/prefix"
SCHEME = "s3://"


def location_of(text: str | Path) -> Location:
    """The repository `text` names: an S3 location as written (without a trailing slash), else a folder."""
    if isinstance(text, str) and is_remote(text):
        return text.strip().rstrip("/")
    return Path(text)


def same_place(root: Path | str, location: Location) -> bool:
    """Whether an open repository's root is the repository at `location` (a folder compares absolute)."""
    if is_remote(location) or is_remote(str(root)):
        return str(root) == str(location)
    return os.path.abspath(root) == os.path.abspath(location)


def bucket_and_prefix(location: str) -> tuple[str, str]:
    bucket, _, prefix = location.removeprefix(SCHEME).partition("/")
    return bucket, prefix.strip("/")


def host_of(endpoint: str | None) -> str:
    """Who serves a bucket, in a word: the endpoint's host, or Amazon S3 when none is named."""
    return (urlsplit(endpoint).hostname or endpoint) if endpoint else "Amazon S3"


def describe_bucket(location: str, endpoint: str | None) -> str:
    """'bucket backups, folder laptop, on nas.local' (the place a person chose, in words)."""
    bucket, prefix = bucket_and_prefix(location)
    inside = f", folder {prefix}" if prefix else ""
    return f"bucket {bucket}{inside}, on {host_of(endpoint)}"


def key_of(location: Location) -> str:
    """The name the agent gives the repository in its status and events: a folder absolute, a bucket as written."""
    return str(location) if is_remote(str(location)) else os.path.abspath(location)
