"""Where a repository in object storage is: `s3://bucket/prefix` and the endpoint that serves it, checked
before any request is made, so a typo is one clear line rather than a server's puzzling refusal."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from timekeep.core.errors import UsageError

SCHEME = "s3://"
# the rules AWS gives for new buckets (MinIO, Ceph and Garage follow them): 3-63 characters of lowercase
# letters, digits, dots and hyphens, beginning and ending with a letter or digit
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
RESERVED_STARTS = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_ENDS = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
PREFIX_PART = re.compile(r"[^\x00-\x1f\x7f\\]+")


@dataclass(frozen=True)
class S3Location:
    """A bucket and the key prefix under which the repository's objects live ("" for the bucket's root)."""

    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"

    def key(self, name: str) -> str:
        """The object key of the repository's object `name`."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def name(self, key: str) -> str:
        """The repository's name for the object key `key` (the inverse of `key`)."""
        return key[len(self.prefix) + 1:] if self.prefix else key


def is_s3_url(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_s3_url(text: str) -> S3Location:
    """`s3://bucket` or `s3://bucket/some/prefix`, or UsageError saying what is wrong with it."""
    if not is_s3_url(text):
        raise UsageError(f"{text!r} is not an S3 location: write it as s3://bucket/prefix")
    bucket, _, prefix = text[len(SCHEME):].partition("/")
    check_bucket(bucket)
    return S3Location(bucket, _clean_prefix(prefix, text))


def check_bucket(bucket: str) -> None:
    """UsageError unless `bucket` is a name a bucket can have."""
    if not bucket:
        raise UsageError("the S3 location names no bucket: write it as s3://bucket/prefix")
    why = _bucket_fault(bucket)
    if why:
        raise UsageError(f"{bucket!r} cannot be a bucket name: {why}")


def _bucket_fault(bucket: str) -> str | None:
    if not 3 <= len(bucket) <= 63:
        return "a bucket name has 3 to 63 characters"
    if not BUCKET.fullmatch(bucket):
        return ("a bucket name has only lowercase letters, digits, dots and hyphens, "
                "and begins and ends with a letter or digit")
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "a bucket name has no two dots, and no dot beside a hyphen"
    if _is_ip_address(bucket):
        return "a bucket name is not an IP address"
    if bucket.startswith(RESERVED_STARTS) or bucket.endswith(RESERVED_ENDS):
        return "that beginning or ending is reserved"
    return None


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _clean_prefix(prefix: str, text: str) -> str:
    """The prefix without surrounding slashes; UsageError for empty, "." or ".." parts, or control characters."""
    prefix = prefix.strip("/")
    if not prefix:
        return ""
    for part in prefix.split("/"):
        if part in ("", ".", "..") or not PREFIX_PART.fullmatch(part):
            raise UsageError(f"{text!r}: the prefix after the bucket must be plain names separated by single "
                             "slashes (no '.', '..', '//' or control characters)")
    if len(prefix.encode()) > 512:
        raise UsageError(f"{text!r}: the prefix is too long for object keys (at most 512 bytes)")
    return prefix


def check_endpoint(endpoint: str) -> str:
    """The endpoint URL (http or https, a host, perhaps a port), without a trailing slash, or UsageError."""
    parts = urlsplit(endpoint)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or parts.query or parts.fragment:
        raise UsageError(f"{endpoint!r} is not an endpoint URL: write it as https://host[:port] "
                         "(http:// only for a server on your own network)")
    return endpoint.rstrip("/")
