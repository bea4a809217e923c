"""Where a destination is: a repository folder on this computer (a drive), or a location in an S3 bucket.

Settings name destinations as text. A folder is made absolute, as it always was; `s3://bucket/prefix` is
kept as text (a `Path` would fold its double slash) and written the one way `s3_url` spells it, so the
settings, the socket and the status agree on a destination's name.
"""

from __future__ import annotations

import os
from pathlib import Path

from timekeep.core.storage.s3_url import is_s3_url, parse_s3_url

Where = Path | str  # a folder on this computer, or an s3:// location (always text)


def destination_of(text: str | Path) -> Where:
    """The destination `text` names: an absolute folder, or an S3 location (UsageError when malformed)."""
    if is_s3_url(str(text)):  # text, or a located root, which names itself by its URL
        return parse_s3_url(str(text)).url
    return Path(os.path.abspath(text))


def key_of(text: str | Path) -> str:
    """The name a destination goes by in the agent (its status, the socket's requests)."""
    return str(destination_of(text))


def is_remote(where: Where) -> bool:
    """A destination reached over the network: present means reachable, not mounted."""
    return isinstance(where, str)
