"""The boto3 client for one repository: credentials from boto3's usual chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a named profile, ~/.aws/credentials and ~/.aws/config, then the
instance's role), and a configuration every S3-compatible server accepts.

Checksums are sent and checked only where the operation requires them: boto3 since 1.36 adds CRC32
trailers to every upload and checks them on every download by default, which servers such as rclone's
and older MinIO reject or cannot give for ranged reads. Our packs carry their own checksums.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ProfileNotFound

from timekeep.core.errors import NoCredentials, UsageError
from timekeep.core.storage.s3_requests import S3Tuning

DEFAULT_REGION = "us-east-1"  # signing needs one; servers other than AWS mostly ignore it


def make_client(url: str, endpoint: str | None, tuning: S3Tuning, session: boto3.session.Session,
                region: str | None = None) -> Any:
    """A client for `endpoint` (AWS itself when None), or NoCredentials when `session` finds none."""
    try:
        found = session.get_credentials()
    except BotoCoreError as err:
        raise NoCredentials(f"the credentials for {url} could not be read: {err}") from err
    if found is None:
        raise NoCredentials(f"no credentials for {url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name "
                            "a profile of ~/.aws/credentials in AWS_PROFILE")
    config = Config(
        region_name=region or session.region_name or DEFAULT_REGION,
        signature_version="s3v4",
        retries={"total_max_attempts": 1},  # Requests tries again, with one policy for every failure
        max_pool_connections=tuning.max_requests,
        connect_timeout=tuning.connect_timeout,
        read_timeout=tuning.read_timeout,
        tcp_keepalive=True,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path" if endpoint else "auto"},  # a NAS has no wildcard DNS for buckets
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


def new_session(profile: str | None = None) -> boto3.session.Session:
    """A boto3 session with the usual credentials chain (or the named profile). Clients made from one session
    share its parsed service model: a process that opens many repositories keeps one."""
    try:
        return boto3.session.Session(profile_name=profile)
    except ProfileNotFound as err:
        raise UsageError(f"there is no AWS profile {profile!r} in ~/.aws/config or ~/.aws/credentials") from err
