"""Where a repository is: a folder of this computer (a drive), or `s3://bucket/prefix` on an S3 server.

The engine carries a repository's root as a Path everywhere; a repository in a bucket travels as a
`RemoteRoot`, a Path that names itself by its URL, carries the one backend every layer of a command shares
(so the writer's lease is the one its writes check) and refuses to be used as a local file path, so no
file-system call can quietly act on a folder called "s3:".

The endpoint of an S3 location is, in order: the one given (`--endpoint`), the one remembered for that
location in settings.json, the one boto3's own configuration names (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
a profile's endpoint_url), else AWS itself.
"""

from __future__ import annotations

import os
from pathlib import Path, PosixPath
from typing import TYPE_CHECKING, Any

from timekeep.core.storage.s3_url import SCHEME, is_s3_url, parse_s3_url

if TYPE_CHECKING:
    import boto3

    from timekeep.core.storage.backend import Backend

GUARD = "\x00s3:"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


class RemoteRoot(PosixPath):
    """The root of a repository on a medium that is no local folder. Paths derived from it (`root / "x"`)
    name objects in messages only; none of them can be opened as a file."""

    _backend: Backend | None = None

    def __new__(cls, backend: Backend) -> RemoteRoot:
        location = parse_s3_url(backend.where)
        parts = [part for part in location.prefix.split("/") if part]
        # the NUL in its second part makes every file-system call on it, or on a plain Path made from it, fail
        self = super().__new__(cls, "/", GUARD, location.bucket, *parts)
        self._backend = backend
        return self

    @property
    def backend(self) -> Backend:
        assert self._backend is not None, "only the root itself carries the backend"
        return self._backend

    def __str__(self) -> str:
        if self._backend is not None:
            return self._backend.where
        return SCHEME + "/".join(self.parts[2:])

    def __repr__(self) -> str:
        return f"RemoteRoot({str(self)!r})"

    def __fspath__(self) -> str:
        raise TypeError(f"{self} is in object storage, not a folder of this computer")

    def __reduce__(self) -> Any:
        raise TypeError(f"{self} carries an open connection and cannot be pickled")


def is_remote(location: str | os.PathLike[str]) -> bool:
    """Whether `location` names a repository in object storage (s3://…) rather than a folder."""
    return isinstance(location, RemoteRoot) or (isinstance(location, str) and is_s3_url(location))


def backend_of(root: Path) -> Backend | None:
    """The backend a remote root carries; None for a folder (whose backend is a LocalBackend of it)."""
    return root.backend if isinstance(root, RemoteRoot) else None


def locate(location: str | os.PathLike[str], endpoint: str | None = None, settings_file: Path | None = None,
           session: boto3.session.Session | None = None) -> Path:
    """The root of the repository at `location`: an absolute folder, or a RemoteRoot (a root already located
    is returned as it is). UsageError for a malformed S3 URL or endpoint, NoCredentials when boto3's chain
    finds no credentials; nothing is asked of the server yet."""
    if isinstance(location, RemoteRoot):
        return location
    if not is_remote(location):
        return Path(location).absolute()
    from timekeep.core.storage.s3_backend import S3Backend
    from timekeep.core.storage.s3_client import new_session

    url = parse_s3_url(str(location)).url
    session = session or new_session()
    chosen = endpoint or remembered_endpoint(url, settings_file) or configured_endpoint(session)
    return RemoteRoot(S3Backend(url, chosen, session=session))


def remembered_endpoint(url: str, settings_file: Path | None = None) -> str | None:
    """The endpoint settings.json remembers for `url` (an unreadable settings file remembers none)."""
    from timekeep.core import settings

    return settings.endpoint_for(settings.read_or_defaults(settings_file or settings.default_file()), url)


def configured_endpoint(session: boto3.session.Session) -> str | None:
    """The endpoint boto3's own configuration names for S3: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or the
    profile's endpoint_url (its s3 section first). Resolved here so that such a server is addressed by path,
    as one on a NAS must be (it has no wildcard DNS for bucket names)."""
    for variable in ENDPOINT_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    from botocore.exceptions import BotoCoreError

    try:
        scoped: dict[str, Any] = session._session.get_scoped_config()
    except BotoCoreError:  # a profile that cannot be read is the credential chain's to report
        return None
    s3_section = scoped.get("s3")
    if isinstance(s3_section, dict) and s3_section.get("endpoint_url"):
        return str(s3_section["endpoint_url"])
    found = scoped.get("endpoint_url")
    return str(found) if found else None
