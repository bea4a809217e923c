"""Does this S3 server honour conditional writes? Asked once per repository opened, by trying.

AWS S3 (since 2024), MinIO and Ceph RGW refuse a PUT with `If-None-Match: *` onto an existing object and
one with `If-Match` whose ETag is not the object's; so does moto. Others accept the header and overwrite
anyway: rclone's `serve s3` (1.75) ignores both. Where they are honoured, creating an object that must
not exist and breaking an expired lease are atomic; where not, the writer lock (a lease object, checked
by reading it back) is what keeps a second writer out, and a write first asks whether its name is taken.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from timekeep.core.storage.s3_errors import is_condition_failed
from timekeep.core.storage.s3_requests import Requests

NO_SUCH_ETAG = '"00000000000000000000000000000000"'


@dataclass(frozen=True)
class Conditions:
    """Which conditional headers the server enforces on PutObject."""

    if_none_match: bool
    if_match: bool


def probe(client: Any, requests: Requests, bucket: str, key_prefix: str) -> Conditions:
    """Write a scratch object under `key_prefix`, try to replace it against each condition, delete it."""
    key = f"{key_prefix}.probe-{secrets.token_hex(8)}"
    doing = "asking the server whether it honours conditional writes"

    def put(**condition: str) -> Any:
        return client.put_object(Bucket=bucket, Key=key, Body=b"", **condition)

    requests.call(doing, put)
    try:
        return Conditions(if_none_match=_refused(requests, doing, lambda: put(IfNoneMatch="*")),
                          if_match=_refused(requests, doing, lambda: put(IfMatch=NO_SUCH_ETAG)))
    finally:
        requests.call(doing, lambda: client.delete_object(Bucket=bucket, Key=key))


def _refused(requests: Requests, doing: str, attempt: Any) -> bool:
    try:
        requests.call(doing, attempt, passes=is_condition_failed)
    except ClientError:
        return True
    return False
