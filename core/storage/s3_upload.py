"""A large file uploaded as one S3 object in parts, several parts at once within the request bound, each
read from the file as it is sent (never the whole file in memory). The object appears only when the
upload is completed, whole; an upload that fails is aborted, so the server keeps no orphaned parts, and
one the server lost (it was restarted) is begun again.

What `complete` is sent with (If-None-Match where the server honours it) is the caller's choice, and a
refusal of it is passed back unchanged, as is the ETag S3 gives such an object (the MD5 of the parts'
MD5s, then "-" and their number), so a caller can tell its own completed upload after a lost reply.
"""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from timekeep.core.errors import StorageError
from timekeep.core.storage.s3_errors import code_of, is_condition_failed
from timekeep.core.storage.s3_requests import Requests

PARALLEL_PARTS = 4  # each in memory while it is sent: 4 × part_size
RESTARTS = 3


@dataclass
class FinalRequest:
    """What the request that makes an object visible was: how often it was tried, and the ETag the object
    has if it landed (a refusal on a second try may be our first try's success)."""

    tries: int = 0
    etag: str | None = None


def upload_in_parts(client: Any, requests: Requests, where: tuple[str, str], source: Path,
                    complete_with: dict[str, str], attempt: FinalRequest) -> None:
    """Upload `source` as the object `where` (bucket, key) in parts. A server that forgot the upload
    meanwhile (restarted: rclone keeps uploads in memory) is sent it again from the start."""
    for restart in range(1, RESTARTS + 1):
        try:
            _upload_once(client, requests, where, source, complete_with, attempt)
            return
        except ClientError as err:
            if not _lost(err):
                raise
            if restart == RESTARTS:
                raise StorageError(f"the S3 server {requests.endpoint} lost the upload of {source.name} "
                                   f"{RESTARTS} times; try again later") from err


def _upload_once(client: Any, requests: Requests, where: tuple[str, str], source: Path,
                 complete_with: dict[str, str], attempt: FinalRequest) -> None:
    bucket, key = where
    doing = f"uploading {source.name}"
    upload_id = requests.call(doing, lambda: client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    try:
        parts = _send_parts(client, requests, dict(Bucket=bucket, Key=key, UploadId=upload_id), source, doing)
        whole = hashlib.md5(b"".join(digest for _, digest in parts), usedforsecurity=False).hexdigest()
        attempt.etag = f'"{whole}-{len(parts)}"'

        def complete() -> Any:
            attempt.tries += 1
            return client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": [
                    {"ETag": etag, "PartNumber": number} for number, (etag, _) in enumerate(parts, 1)]},
                **complete_with)

        requests.call(doing, complete, passes=lambda err: is_condition_failed(err) or _lost(err))
    except BaseException as err:
        if not _lost(err):
            with contextlib.suppress(StorageError):
                requests.call(doing, lambda: client.abort_multipart_upload(Bucket=bucket, Key=key,
                                                                           UploadId=upload_id))
        raise


def _lost(err: BaseException) -> bool:
    return isinstance(err, ClientError) and code_of(err) == "NoSuchUpload"


def _send_parts(client: Any, requests: Requests, where: dict[str, str], source: Path,
                doing: str) -> list[tuple[str, bytes]]:
    """Each part's ETag and MD5 digest, in order."""
    size, part_size = source.stat().st_size, requests.tuning.part_size
    offsets = range(0, max(size, 1), part_size)

    def send(number: int, offset: int) -> tuple[str, bytes]:
        with source.open("rb") as file:
            file.seek(offset)
            data = file.read(part_size)
        etag = requests.call(doing, lambda: client.upload_part(PartNumber=number, Body=data, **where)["ETag"],
                             passes=_lost)
        return str(etag), hashlib.md5(data, usedforsecurity=False).digest()

    workers = max(1, min(PARALLEL_PARTS, requests.tuning.max_requests, len(offsets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-part") as pool:
        return list(pool.map(send, range(1, len(offsets) + 1), offsets))
