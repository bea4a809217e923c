"""The S3 race's tools: Timekeep and restic, each with a bucket of its own on the bench's S3 server.

Timekeep's S3 repository is encrypted by default (`timekeep-s3`, as restic always is); `timekeep-s3-plain`
is the same without encryption. Both keep their index on this computer, in a cache folder of the bench's
own, as restic keeps its cache (RESTIC_CACHE_DIR): the repository's size is the bucket's alone. Every tool
reads its keys from the AWS variables, as a script would give them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.s3proxy import Traffic
from bench.s3server import S3Server
from bench.tools import Restic, Timekeep, TimekeepEncrypted, Tool
from timekeep.core.crypto.kdf import Argon2Params

PREFIX = "repo"  # each tool's repository sits under this prefix of its bucket, as a shared bucket's would


def private_folders(work: Path, name: str) -> dict[str, str]:
    """XDG folders of the tool's own: its index cache, and the settings where it remembers the endpoint."""
    home = work / f"cache-{name}"
    return {f"XDG_{kind.upper()}_HOME": str(home / kind) for kind in ("cache", "config", "state", "data")}


class OnS3:
    """What every S3 tool adds: its bucket on the server, the traffic to it, and its size there."""

    name = ""
    server: S3Server

    @property
    def bucket(self) -> str:
        return self.name

    def traffic(self) -> Traffic:
        return self.server.traffic(self.bucket)

    def repo_bytes(self) -> int:
        return self.server.bucket_bytes(self.bucket)


class TimekeepOnS3(OnS3):
    """Timekeep's commands on a bucket: the repository named by its URL, the server by --endpoint."""

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{PREFIX}"

    def endpoint(self) -> str:
        return self.server.endpoint

    def _cli(self, *args: str) -> list[str]:
        return [*super()._cli(*args), "--endpoint", self.server.endpoint]  # type: ignore[misc]


class TimekeepS3(TimekeepOnS3, TimekeepEncrypted):
    """`timekeep init s3://bucket/repo --endpoint URL` (encrypted, the passphrase in TIMEKEEP_PASSPHRASE);
    every command names the repository by its URL and endpoint. `argon2` as for `timekeep-enc`: None tunes
    the key's cost through the CLI's init as a user's is, a cost makes the key slot in process (smoke)."""

    name = "timekeep-s3"

    def __init__(self, work: Path, source: Path, server: S3Server, argon2: Argon2Params | None = None) -> None:
        super().__init__(work, source, argon2)
        self.server = server
        self.env = {**self.env, **private_folders(work, self.name), **server.credentials()}


class TimekeepS3Plain(TimekeepOnS3, Timekeep):
    """The same without encryption (`init --encryption none`): what sealing costs over the network."""

    name = "timekeep-s3-plain"

    def __init__(self, work: Path, source: Path, server: S3Server, argon2: Argon2Params | None = None) -> None:
        super().__init__(work, source)
        self.server = server
        self.env = {**private_folders(work, self.name), **server.credentials()}


class ResticS3(OnS3, Restic):
    """restic's S3 backend: `restic -r s3:http://127.0.0.1:PORT/bucket/repo`, its cache in the bench's folder."""

    name = "restic-s3"

    def __init__(self, work: Path, source: Path, server: S3Server, argon2: Argon2Params | None = None) -> None:
        super().__init__(work, source)
        self.server = server
        self.env = {**Restic.env, "RESTIC_CACHE_DIR": str(work / f"cache-{self.name}"), **server.credentials()}

    @property
    def location(self) -> str:
        return f"s3:{self.server.endpoint}/{self.bucket}/{PREFIX}"


S3_TOOLS: dict[str, Callable[[Path, Path, S3Server, Argon2Params | None], Tool]] = {
    t.name: t for t in (TimekeepS3, TimekeepS3Plain, ResticS3)}
S3_RACE = ("timekeep-s3", "timekeep-s3-plain", "restic-s3")


def traffic(tool: Tool) -> Traffic:
    """The traffic so far between `tool` and its bucket."""
    assert isinstance(tool, OnS3), f"{tool.name} does not keep its repository on S3"
    return tool.traffic()
