"""The S3 backend against real S3 servers on loopback (rclone's `serve s3` and moto's server, each test run
against both): every method of the storage interface, the errors a person sees, and retries through a
proxy that makes the real server fail now and then."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3_support import FlakyProxy, Rclone, S3Server, free_port
from timekeep.core.errors import (
    AccessDenied,
    DriveGone,
    NoCredentials,
    NoSuchBucket,
    ObjectExists,
    ObjectMissing,
    StorageError,
    UsageError,
)
from timekeep.core.storage.backend import Backend, StoredObject
from timekeep.core.storage.s3_backend import S3Backend
from timekeep.core.storage.s3_requests import S3Tuning
from timekeep.core.storage.s3_url import S3Location, check_endpoint, parse_s3_url

QUICK = S3Tuning(attempts=4, backoff=0.0, connect_timeout=2.0, read_timeout=10.0, sleep=lambda _: None)
HONOURS_CONDITIONS = {"moto": True, "rclone": False}


def backend_on(server: S3Server, bucket: str, prefix: str = "repo", **options: object) -> S3Backend:
    """A backend on `server` with the test keys (session=None: found by boto3's chain instead)."""
    options = {"tuning": QUICK, "session": server.session, **options}
    return S3Backend(f"s3://{bucket}/{prefix}", str(options.pop("endpoint", server.endpoint)),
                     **options)  # type: ignore[arg-type]


def test_it_is_a_backend_found_by_the_usual_credentials(s3_server: S3Server, s3_bucket: str) -> None:
    """The keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as boto3's chain finds them."""
    backend: Backend = backend_on(s3_server, s3_bucket, session=None)
    assert backend.where == f"s3://{s3_bucket}/repo"
    backend.write("config.json", b"{}")
    assert backend.read("config.json") == b"{}"


def test_objects_are_written_listed_read_and_deleted_under_the_prefix(s3_server: S3Server, s3_bucket: str) -> None:
    backend = backend_on(s3_server, s3_bucket, "home/alice")
    neighbour = backend_on(s3_server, s3_bucket, "home/bob")
    backend.write("config.json", b"{}")
    backend.write("packs/ab/ab01.pack", b"p" * 300)
    backend.write("snapshots/0000000001.manifest", b"m" * 7)
    neighbour.write("packs/ab/ab01.pack", b"not alice's")
    listed = sorted(backend.list(), key=lambda found: found.name)
    assert listed == [StoredObject("config.json", 2), StoredObject("packs/ab/ab01.pack", 300),
                      StoredObject("snapshots/0000000001.manifest", 7)]
    assert list(backend.list("packs/")) == [StoredObject("packs/ab/ab01.pack", 300)]
    assert backend.stat("packs/ab/ab01.pack") == StoredObject("packs/ab/ab01.pack", 300)
    assert backend.stat("packs/ab/nothing.pack") is None
    assert backend.read("packs/ab/ab01.pack") == b"p" * 300
    backend.delete("packs/ab/ab01.pack")
    backend.delete("packs/ab/ab01.pack")  # gone already: not an error
    assert backend.stat("packs/ab/ab01.pack") is None
    assert neighbour.read("packs/ab/ab01.pack") == b"not alice's"


def test_a_listing_longer_than_a_page_is_whole(s3_server: S3Server, s3_bucket: str) -> None:
    backend = backend_on(s3_server, s3_bucket, tuning=S3Tuning(list_page=2, backoff=0.0))
    names = {f"snapshots/{n:010d}.manifest" for n in range(5)}
    for name in names:
        backend.write(name, name.encode())
    assert {found.name for found in backend.list("snapshots/")} == names


def test_ranged_reads_give_exactly_the_bytes_asked(s3_server: S3Server, s3_bucket: str) -> None:
    backend = backend_on(s3_server, s3_bucket)
    data = bytes(range(256)) * 4
    backend.write("packs/aa/one.pack", data)
    for offset, length in ((0, 1), (1, 10), (1000, 24), (1020, 100), (5, None), (0, None), (1023, 1)):
        want = data[offset:] if length is None else data[offset:offset + length]
        assert backend.read("packs/aa/one.pack", offset, length) == want, (offset, length)
    assert backend.read("packs/aa/one.pack", 1024, 10) == b""
    assert backend.read("packs/aa/one.pack", 3, 0) == b""


def test_reading_a_missing_object_says_which(s3_server: S3Server, s3_bucket: str) -> None:
    backend = backend_on(s3_server, s3_bucket)
    for offset, length in ((0, None), (10, 5), (0, 0)):
        with pytest.raises(ObjectMissing, match=r"packs/zz/gone\.pack"):
            backend.read("packs/zz/gone.pack", offset, length)


def test_which_servers_honour_conditional_writes(s3_server: S3Server, s3_bucket: str) -> None:
    """moto refuses If-None-Match and If-Match writes it should; rclone's serve s3 ignores both (and the
    backend then asks before it writes). The probe leaves nothing behind."""
    backend = backend_on(s3_server, s3_bucket)
    found = backend.conditions()
    assert (found.if_none_match, found.if_match) == (HONOURS_CONDITIONS[s3_server.name],) * 2
    assert list(backend.list()) == []


@pytest.mark.parametrize("conditional", [None, False])
def test_a_write_never_replaces_an_object_unless_told(s3_server: S3Server, s3_bucket: str,
                                                      conditional: bool | None) -> None:
    backend = backend_on(s3_server, s3_bucket, conditional=conditional)
    backend.write("snapshots/0000000001.manifest", b"first")
    with pytest.raises(ObjectExists, match=r"snapshots/0000000001\.manifest"):
        backend.write("snapshots/0000000001.manifest", b"second")
    assert backend.read("snapshots/0000000001.manifest") == b"first"
    backend.write("snapshots/0000000001.manifest", b"third", replace=True)
    assert backend.read("snapshots/0000000001.manifest") == b"third"


def test_a_large_file_is_uploaded_in_parts_and_read_back_by_ranges(s3_server: S3Server, s3_bucket: str,
                                                                   tmp_path: Path) -> None:
    backend = backend_on(s3_server, s3_bucket, tuning=S3Tuning(backoff=0.0))
    source = tmp_path / "big.pack"
    data = os.urandom(20 << 20)
    source.write_bytes(data)
    backend.write_file("packs/bb/big.pack", source)
    assert not source.exists(), "the file is handed over: nothing stays behind on this computer"
    assert backend.stat("packs/bb/big.pack") == StoredObject("packs/bb/big.pack", len(data))
    part = 8 << 20
    for offset, length in ((part - 100, 200), (0, 4096), (len(data) - 5000, 10_000), (2 * part + 1, 1 << 20)):
        assert backend.read("packs/bb/big.pack", offset, length) == data[offset:offset + length]
    assert backend.read("packs/bb/big.pack") == data
    source.write_bytes(data)
    with pytest.raises(ObjectExists):
        backend.write_file("packs/bb/big.pack", source)
    assert source.exists(), "a refused file is left to the caller"
    assert backend.requests.made < 30  # parts, not a request per chunk of the file


def test_a_small_file_is_written_whole(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    backend = backend_on(s3_server, s3_bucket)
    source = tmp_path / "small.pack"
    source.write_bytes(b"small" * 1000)
    backend.write_file("packs/cc/small.pack", source)
    assert backend.read("packs/cc/small.pack") == b"small" * 1000
    assert not source.exists()
    source.write_bytes(b"other")
    with pytest.raises(ObjectExists):
        backend.write_file("packs/cc/small.pack", source)


def test_a_missing_bucket_is_named(s3_server: S3Server, s3_credentials: None) -> None:
    backend = backend_on(s3_server, "no-such-bucket-here")
    for attempt in (lambda: backend.stat("config.json"), lambda: backend.read("config.json"),
                    lambda: list(backend.list()), lambda: backend.write("config.json", b"{}", replace=True)):
        with pytest.raises(NoSuchBucket, match=f"no bucket 'no-such-bucket-here' at {s3_server.endpoint}"):
            attempt()


def test_wrong_credentials_are_refused_in_one_line(rclone_server: S3Server, s3_credentials: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """moto accepts any key, so this runs against rclone, which checks them."""
    bucket = rclone_server.new_bucket()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    backend = backend_on(rclone_server, bucket, session=None)
    for attempt in (lambda: backend.stat("config.json"), lambda: backend.read("config.json"),
                    lambda: list(backend.list())):
        with pytest.raises(AccessDenied, match=f"{rclone_server.endpoint} refused access to s3://{bucket}/repo") as err:
            attempt()
        assert "\n" not in str(err.value) and err.value.exit_code == 2


def test_no_credentials_at_all_says_where_to_put_them(s3_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(NoCredentials, match="no credentials for s3://photos/laptop: set AWS_ACCESS_KEY_ID"):
        S3Backend("s3://photos/laptop", "http://127.0.0.1:9", tuning=QUICK)


def test_an_unreachable_server_is_a_gone_drive_quickly(s3_credentials: None) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    tries: list[float] = []
    tuning = S3Tuning(attempts=3, backoff=0.5, connect_timeout=1.0, sleep=tries.append)
    backend = S3Backend("s3://photos/laptop", endpoint, tuning=tuning)
    with pytest.raises(DriveGone, match=f"cannot reach the S3 server {endpoint}"):
        backend.stat("config.json")
    assert len(tries) == 2 and all(0 <= pause <= 1.0 for pause in tries)  # backed off between the 3 attempts


def test_a_server_failing_now_and_then_is_retried_to_success(s3_server: S3Server, s3_bucket: str,
                                                             tmp_path: Path) -> None:
    with FlakyProxy(s3_server.endpoint, fail_every=3) as proxy:
        backend = backend_on(s3_server, s3_bucket, endpoint=proxy.endpoint)
        source = tmp_path / "part.pack"
        source.write_bytes(data := os.urandom(100_000))
        for n in range(4):
            backend.write(f"packs/dd/{n}.pack", bytes([n]) * 1000)
        backend.write_file("packs/dd/file.pack", source)
        assert backend.read("packs/dd/2.pack", 10, 5) == b"\x02" * 5
        assert backend.read("packs/dd/file.pack") == data
        assert len(list(backend.list("packs/"))) == 5
        with pytest.raises(ObjectExists):
            backend.write("packs/dd/0.pack", b"again")
        assert proxy.failed >= 4 and backend.requests.retried >= proxy.failed


def test_a_response_cut_off_halfway_is_fetched_again(s3_server: S3Server, s3_bucket: str) -> None:
    """botocore retries no body that breaks off while it is read; the backend does."""
    backend = backend_on(s3_server, s3_bucket)
    data = os.urandom(50_000)
    backend.write("packs/ee/cut.pack", data)
    with FlakyProxy(s3_server.endpoint, cut_every=2) as proxy:
        through = backend_on(s3_server, s3_bucket, endpoint=proxy.endpoint)
        for offset in (0, 1000, 20_000):
            assert through.read("packs/ee/cut.pack", offset, 10_000) == data[offset:offset + 10_000]
        assert proxy.cut >= 1


def test_a_server_that_keeps_failing_gives_up_in_one_line(s3_server: S3Server, s3_bucket: str) -> None:
    with FlakyProxy(s3_server.endpoint, fail_every=1) as proxy:
        backend = backend_on(s3_server, s3_bucket, endpoint=proxy.endpoint)
        with pytest.raises(StorageError, match=f"{proxy.endpoint} kept failing .* while reading config.json"):
            backend.read("config.json")
        assert proxy.seen == QUICK.attempts


PARTS = S3Tuning(attempts=3, backoff=0.0, part_size=5 << 20, multipart_over=5 << 20, sleep=lambda _: None)


@pytest.fixture
def own_rclone(tmp_path: Path, s3_credentials: None) -> Iterator[Rclone]:
    server = Rclone(tmp_path / "served")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_a_server_killed_mid_upload_shows_nothing_and_takes_the_next_upload(own_rclone: Rclone,
                                                                             tmp_path: Path) -> None:
    server = S3Server("rclone", own_rclone.endpoint)
    bucket = server.new_bucket()
    source = tmp_path / "big.pack"
    source.write_bytes(data := os.urandom(12 << 20))

    def kill_at_the_second_part(method: str, path: str) -> None:
        if "partNumber=2" in path:
            own_rclone.kill()

    with FlakyProxy(own_rclone.endpoint, before=kill_at_the_second_part) as proxy:
        backend = backend_on(server, bucket, endpoint=proxy.endpoint, tuning=PARTS)
        with pytest.raises(DriveGone, match=f"cannot reach the S3 server {proxy.endpoint}"):
            backend.write_file("packs/gg/big.pack", source)
        proxy.before = None
        own_rclone.start()
        assert backend.stat("packs/gg/big.pack") is None and list(backend.list()) == []
        backend.write_file("packs/gg/big.pack", source)
        assert backend.read("packs/gg/big.pack") == data


def test_a_server_restarted_mid_upload_is_sent_the_upload_again(own_rclone: Rclone, tmp_path: Path) -> None:
    """rclone forgets an unfinished upload when it restarts; the backend begins it again."""
    server = S3Server("rclone", own_rclone.endpoint)
    bucket = server.new_bucket()
    source = tmp_path / "big.pack"
    source.write_bytes(data := os.urandom(12 << 20))
    killed: list[str] = []

    def kill_once_at_the_second_part(method: str, path: str) -> None:
        if "partNumber=2" in path and not killed:
            killed.append(path)
            own_rclone.kill()

    tuning = S3Tuning(attempts=3, backoff=0.0, part_size=5 << 20, multipart_over=5 << 20,
                      sleep=lambda _: own_rclone.start())  # back before the backend tries again
    with FlakyProxy(own_rclone.endpoint, before=kill_once_at_the_second_part) as proxy:
        backend = backend_on(server, bucket, endpoint=proxy.endpoint, tuning=tuning)
        backend.write_file("packs/gg/big.pack", source)
        assert killed and backend.read("packs/gg/big.pack") == data


def test_parallel_requests_stay_within_the_bound(s3_server: S3Server, s3_bucket: str) -> None:
    backend = backend_on(s3_server, s3_bucket)
    backend.write("packs/ff/shared.pack", b"x" * 4096)
    with FlakyProxy(s3_server.endpoint) as proxy:
        through = backend_on(s3_server, s3_bucket, endpoint=proxy.endpoint,
                             tuning=S3Tuning(max_requests=2, backoff=0.0))
        readers = [threading.Thread(target=through.read, args=("packs/ff/shared.pack", n, 100)) for n in range(16)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        assert proxy.seen == 16 and 1 <= proxy.most_in_flight <= 2


@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("s3://photos", "photos", ""),
    ("s3://photos/", "photos", ""),
    ("s3://my.family-backups/laptop/home", "my.family-backups", "laptop/home"),
    ("s3://abc/x/", "abc", "x"),
])
def test_s3_urls_are_parsed(url: str, bucket: str, prefix: str) -> None:
    location = parse_s3_url(url)
    assert location == S3Location(bucket, prefix)
    assert location.key("config.json") == (f"{prefix}/config.json" if prefix else "config.json")
    assert location.name(location.key("packs/a.pack")) == "packs/a.pack"


@pytest.mark.parametrize(("url", "why"), [
    ("photos/laptop", "not an S3 location"),
    ("s3:///laptop", "names no bucket"),
    ("s3://ab/laptop", "3 to 63 characters"),
    ("s3://" + "a" * 64, "3 to 63 characters"),
    ("s3://Photos/laptop", "lowercase letters"),
    ("s3://photos_2024", "lowercase letters"),
    ("s3://-photos", "begins and ends"),
    ("s3://photos./x", "begins and ends"),
    ("s3://my..photos", "no two dots"),
    ("s3://192.168.1.10/x", "not an IP address"),
    ("s3://xn--photos", "reserved"),
    ("s3://photos/a//b", "plain names"),
    ("s3://photos/a/../b", "plain names"),
    ("s3://photos/a\nb", "plain names"),
])
def test_bad_s3_urls_say_what_is_wrong(url: str, why: str) -> None:
    with pytest.raises(UsageError, match=why) as err:
        parse_s3_url(url)
    assert "\n" not in str(err.value).replace("\\n", "")


@pytest.mark.parametrize("endpoint", ["nas.local:9000", "ftp://nas.local", "http://", "http://nas:99999",
                                      "https://nas/?x=1"])
def test_bad_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(UsageError, match="not an endpoint URL"):
        check_endpoint(endpoint)
    assert check_endpoint("https://nas.local:9000/") == "https://nas.local:9000"
