"""A repository in an S3-compatible bucket (AWS, MinIO, Garage, Ceph, Backblaze B2, Wasabi, rclone),
under a key prefix: the object-storage implementation of `Backend`.

Reads of part of an object are ranged GETs, so a restore fetches only the bytes it needs. A write that
must not replace an existing object is a PUT with `If-None-Match: *` where the server honours it
(s3_conditions.py says which do); where it does not, the write first asks (HEAD) whether the name is
taken, and two writers racing for one name are kept apart by the writer lock, not by the server. A file
(a pack) goes up in one PUT streamed from the disk, unless it is larger than `multipart_over`: then in
parts, several at once. Every request is bounded, retried and explained by `Requests` (s3_requests.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from timekeep.core.errors import NoSuchBucket, ObjectExists, ObjectMissing
from timekeep.core.storage.backend import StoredObject
from timekeep.core.storage.lease_lock import LeaseLock, LeaseSettings, live_lease
from timekeep.core.storage.s3_client import make_client, new_session
from timekeep.core.storage.s3_conditions import Conditions, probe
from timekeep.core.storage.s3_errors import code_of, is_condition_failed, is_missing, status_of
from timekeep.core.storage.s3_requests import Requests, S3Tuning
from timekeep.core.storage.s3_upload import FinalRequest, upload_in_parts
from timekeep.core.storage.s3_url import check_endpoint, parse_s3_url

AWS = "AWS S3"
LOCK_NAME = "lock"


class S3Backend:
    """The repository at `url` (s3://bucket/prefix) on the server at `endpoint` (AWS itself when None).
    Credentials come from `session` (new_session(profile) for a named profile; the usual chain by default).
    `conditional` says whether the server honours conditional writes; None finds out on first need."""

    def __init__(self, url: str, endpoint: str | None = None, *, tuning: S3Tuning | None = None,
                 session: boto3.session.Session | None = None, region: str | None = None,
                 conditional: bool | None = None, lease: LeaseSettings | None = None) -> None:
        self.location = parse_s3_url(url)
        self.endpoint = check_endpoint(endpoint) if endpoint else None
        self.tuning = tuning or S3Tuning()
        self.lease = lease or LeaseSettings()
        self.requests = Requests(self.location.url, self.endpoint or AWS, self.tuning)
        self._client = make_client(self.location.url, self.endpoint, self.tuning, session or new_session(), region)
        self._conditions = None if conditional is None else Conditions(conditional, conditional)
        self._bucket_seen = False
        self._guard = threading.Lock()
        self._lock: LeaseLock | None = None

    @property
    def where(self) -> str:
        return self.location.url

    @property
    def local_folder(self) -> Path | None:
        return None  # a bucket: the index and temporaries stay on this computer

    def names(self, prefix: str = "") -> Iterator[str]:
        return (found.name for found in self.list(prefix))  # a listing's page carries the sizes anyway

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        args: dict[str, Any] = {"Bucket": self.location.bucket, "Prefix": self.location.key(prefix),
                                "MaxKeys": self.tuning.list_page}
        while True:
            page: dict[str, Any] = self.requests.call(f"listing {prefix or 'the repository'}",
                                                      lambda: self._client.list_objects_v2(**args))
            self._bucket_seen = True
            for item in page.get("Contents", ()):
                yield StoredObject(self.location.name(item["Key"]), int(item["Size"]))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            args["ContinuationToken"] = token

    def stat(self, name: str) -> StoredObject | None:
        found = self._head(name)
        return None if found is None else StoredObject(name, int(found["ContentLength"]))

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"no bytes at offset {offset}, length {length}")
        if length == 0:
            if self._head(name) is None:
                raise ObjectMissing(f"{name} is missing from {self.where}")
            return b""
        last = "" if length is None else str(offset + length - 1)
        ranged = {"Range": f"bytes={offset}-{last}"} if offset or length is not None else {}

        def get() -> bytes:
            body = self._client.get_object(Bucket=self.location.bucket, Key=self._key(name), **ranged)
            return bytes(body["Body"].read())  # inside the retry: a body that breaks off is fetched again

        try:
            data = self.requests.call(f"reading {name}", get, passes=_missing_or_past_end)
        except ClientError as err:
            if _past_end(err):
                return b""  # from at or past its end: nothing, as a file would give
            self._check_bucket()
            raise ObjectMissing(f"{name} is missing from {self.where}") from err
        self._bucket_seen = True
        return data

    def write(self, name: str, data: bytes, *, replace: bool = False) -> None:
        etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
        self._store(name, replace, lambda condition, attempt: self._put(name, data, etag, condition, attempt))

    def write_file(self, name: str, source: Path, *, replace: bool = False) -> None:
        """As the interface says: `source` is removed once stored (else every pack uploaded would stay behind
        on this computer), and left to the caller when the upload fails. Up to `multipart_over` it is one PUT
        whose body is read from the file as it is sent, so a pack is never whole in memory."""
        if source.stat().st_size <= self.tuning.multipart_over:
            with source.open("rb") as body:
                etag = f'"{hashlib.file_digest(body, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()}"'
            self._store(name, replace, lambda condition, attempt: self._put(name, source, etag, condition, attempt))
        else:
            def send(condition: dict[str, str], attempt: FinalRequest) -> None:
                upload_in_parts(self._client, self.requests, (self.location.bucket, self._key(name)),
                                source, condition, attempt)

            self._store(name, replace, send)
        source.unlink(missing_ok=True)

    def copy(self, source: str, target: str) -> str:
        """Copy object `source` to `target` inside the server (no byte passes through this computer); the copy's
        ETag. ObjectExists if `target` exists: the writer lock keeps the name free between the look and the
        copy, and a copy retried after a lost reply only lays the same bytes again."""
        self._check_lease()
        if self._head(target) is not None:
            raise ObjectExists(f"{target} already exists in {self.where}; it was not replaced")
        origin = {"Bucket": self.location.bucket, "Key": self._key(source)}
        answer: dict[str, Any] = self.requests.call(f"copying {source} to {target}", lambda: self._client.copy_object(
            Bucket=self.location.bucket, Key=self._key(target), CopySource=origin))
        return str(answer.get("CopyObjectResult", {}).get("ETag", ""))

    def fingerprint(self, name: str) -> tuple[int, str] | None:
        """The object's size and ETag (the MD5 of its bytes, unless it was uploaded in parts), or None."""
        found = self._head(name)
        return None if found is None else (int(found["ContentLength"]), str(found.get("ETag", "")))

    def delete(self, name: str) -> None:
        self._check_lease()
        self.requests.call(f"deleting {name}", lambda: self._client.delete_object(
            Bucket=self.location.bucket, Key=self._key(name)))

    def close(self) -> None:
        """Nothing to let go of: the client's connections are pooled, and reused by the next open."""

    def writer_lock(self) -> LeaseLock:
        """The lease lock of this prefix; once taken, every write stops if it is lost."""
        self._lock = LeaseLock(self, LOCK_NAME, self.lease)
        return self._lock

    def writer_running(self) -> bool:
        return live_lease(self, LOCK_NAME, self.lease) is not None

    # the conditional operations the lease lock is built on (lease_lock.LeaseStore)

    def read_tagged(self, name: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None if there is none."""
        def get() -> tuple[bytes, str]:
            found = self._client.get_object(Bucket=self.location.bucket, Key=self._key(name))
            return bytes(found["Body"].read()), str(found["ETag"])

        try:
            return self.requests.call(f"reading {name}", get, passes=is_missing)
        except ClientError:
            self._check_bucket()
            return None

    def put_if(self, name: str, data: bytes, *, absent: bool = False, tag: str | None = None) -> bool:
        """Write `data` as `name` if it is absent (`absent`) or still has ETag `tag`; False when refused. Where
        the server ignores conditions this writes regardless: the caller reads back to see who won."""
        condition = {"IfNoneMatch": "*"} if absent else {"IfMatch": tag} if tag else {}
        try:
            self.requests.call(f"writing {name}", lambda: self._client.put_object(
                Bucket=self.location.bucket, Key=self._key(name), Body=data, **condition),
                passes=lambda err: is_condition_failed(err) or is_missing(err))
        except ClientError:
            return False
        return True

    def delete_if(self, name: str, tag: str) -> None:
        """Delete `name` if it still has ETag `tag`, where the server is known to tell (a live lease cannot be
        taken, so elsewhere the caller's read just before is enough); gone already is fine."""
        known = self._conditions
        condition = {"IfMatch": tag} if known is not None and known.if_match else {}
        with contextlib.suppress(ClientError):  # replaced by a taker meanwhile (or gone): not ours to delete
            self.requests.call(f"deleting {name}", lambda: self._client.delete_object(
                Bucket=self.location.bucket, Key=self._key(name), **condition),
                passes=lambda err: is_condition_failed(err) or is_missing(err))

    def conditions(self) -> Conditions:
        """Which conditional writes the server honours (found out once, by trying)."""
        with self._guard:
            if self._conditions is None:
                self._conditions = probe(self._client, self.requests, self.location.bucket, self.location.key(""))
            return self._conditions

    # helpers

    def _store(self, name: str, replace: bool, send: Callable[[dict[str, str], FinalRequest], None]) -> None:
        """Send an object by `send(condition, attempt)` without replacing one unless `replace`: atomically
        where the server honours If-None-Match, else after a HEAD. A refusal after a lost reply to our own
        earlier attempt is no refusal when the object there has the ETag we sent."""
        self._check_lease()
        attempt = FinalRequest()
        if replace:
            send({}, attempt)
            return
        atomic = self.conditions().if_none_match
        if not atomic and self._head(name) is not None:
            raise ObjectExists(f"{name} already exists in {self.where}; it was not replaced")
        try:
            send({"IfNoneMatch": "*"} if atomic else {}, attempt)
        except ClientError as err:
            there = self._head(name) if attempt.tries > 1 else None
            if there is None or there.get("ETag") != attempt.etag:
                raise ObjectExists(f"{name} already exists in {self.where}; it was not replaced") from err

    def _put(self, name: str, body: bytes | Path, etag: str, condition: dict[str, str], attempt: FinalRequest) -> None:
        """One PUT of `body` (bytes, or a file opened anew for every try), `etag` being its MD5 as S3 tags it."""
        attempt.etag = etag

        def put() -> Any:
            attempt.tries += 1
            if isinstance(body, bytes):
                return self._client.put_object(Bucket=self.location.bucket, Key=self._key(name), Body=body,
                                               **condition)
            with body.open("rb") as stream:
                return self._client.put_object(Bucket=self.location.bucket, Key=self._key(name), Body=stream,
                                               **condition)

        self.requests.call(f"writing {name}", put, passes=is_condition_failed)

    def _key(self, name: str) -> str:
        """The object key of `name`; ValueError for a name that is no object's (empty, absolute, or with an
        empty, "." or ".." part), which a server mapping keys to files could resolve outside the prefix."""
        if not name or name.startswith("/") or any(part in ("", ".", "..") for part in name.split("/")):
            raise ValueError(f"not an object name: {name!r}")
        return self.location.key(name)

    def _head(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.requests.call(f"looking for {name}", lambda: self._client.head_object(
                Bucket=self.location.bucket, Key=self._key(name)), passes=is_missing)
        except ClientError:
            self._check_bucket()
            return None
        self._bucket_seen = True
        return found

    def _check_bucket(self) -> None:
        """NoSuchBucket if a 404 was the bucket's (a HEAD's 404 has no body to say whose it was)."""
        if self._bucket_seen:
            return
        try:
            self.requests.call("looking for the bucket", lambda: self._client.head_bucket(
                Bucket=self.location.bucket), passes=is_missing)
        except ClientError as err:
            raise NoSuchBucket(f"there is no bucket {self.location.bucket!r} at {self.endpoint or AWS}; "
                               "create it first, or check the name") from err
        self._bucket_seen = True

    def _check_lease(self) -> None:
        if self._lock is not None:
            self._lock.check()


def _missing_or_past_end(err: BaseException) -> bool:
    return is_missing(err) or _past_end(err)


def _past_end(err: BaseException) -> bool:
    """A range from at or past the object's end: InvalidRange, or a bare 416 when the error's body was lost."""
    return isinstance(err, ClientError) and (code_of(err) == "InvalidRange" or status_of(err) == 416)
