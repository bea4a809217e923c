"""Opening and creating a repository by location: `s3://bucket/prefix` wherever a folder is accepted, the
endpoint found in the order the app promises (given > remembered > boto3's configuration), and what the
"Connect" button's probe says about a place, against real S3 servers on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import make_tree, read_tree
from tests.s3_support import S3Server
from timekeep.core import api, settings
from timekeep.core.api import Timekeep
from timekeep.core.errors import NoCredentials, NoSuchBucket, NotARepository, UsageError
from timekeep.core.storage.location import RemoteRoot


def test_is_remote_tells_a_bucket_from_a_folder(tmp_path: Path) -> None:
    assert api.is_remote("s3://bucket/prefix")
    assert not api.is_remote(str(tmp_path))
    assert not api.is_remote("relative/folder")


def test_a_malformed_location_is_one_line() -> None:
    with pytest.raises(UsageError, match="cannot be a bucket name"):
        api.probe_location("s3://B/x", "http://127.0.0.1:9")
    with pytest.raises(UsageError, match="not an endpoint URL"):
        api.probe_location("s3://bucket/x", "ftp://host")


def test_init_open_and_back_up_by_location_remembering_the_endpoint(
        s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    url = f"s3://{s3_bucket}/home/alice"
    assert api.probe_location(url, s3_server.endpoint) == "empty"
    api.init_repository(url, endpoint=s3_server.endpoint)
    assert settings.endpoint_for(settings.read(settings.default_file()), url) == s3_server.endpoint
    # from here on no endpoint is given: the remembered one is used
    assert api.probe_location(url, None) == "repository"
    assert api.is_repository(url) and not api.is_encrypted(url)
    source = tmp_path / "source"
    make_tree(source, {"a.txt": b"alpha\n" * 500, "sub": {"b.bin": os.urandom(70_000)}})
    with Timekeep.open(url, writer=True) as tk:
        assert isinstance(tk.root, RemoteRoot) and str(tk.root) == url
        tk.add_folder(os.fsencode(source))
        first = tk.backup()
    with Timekeep.open(url) as tk:
        assert [s.id for s in tk.snapshots()] == [first.id]
        dest = tmp_path / "back"
        dest.mkdir()
        tk.restore(os.fsencode(source), first.id, dest=os.fsencode(dest))
    assert read_tree(dest / "source") == read_tree(source)
    assert not list(Path.cwd().glob("s3:*")), "no local folder named after the URL was made"


def test_init_refuses_a_prefix_holding_something_else(s3_server: S3Server, s3_bucket: str) -> None:
    s3_server.admin().put_object(Bucket=s3_bucket, Key="photos/cat.jpg", Body=b"meow")
    with pytest.raises(UsageError, match="not a Timekeep repository"):
        api.probe_location(f"s3://{s3_bucket}/photos", s3_server.endpoint)
    with pytest.raises(UsageError, match="not empty"):
        api.init_repository(f"s3://{s3_bucket}/photos", endpoint=s3_server.endpoint)
    with pytest.raises(NotARepository, match="not a Timekeep repository"):
        Timekeep.open(f"s3://{s3_bucket}/photos", endpoint=s3_server.endpoint)
    assert settings.endpoint_for(settings.read_or_defaults(settings.default_file()), f"s3://{s3_bucket}/photos") \
        is None, "an endpoint is remembered only once it worked"


def test_a_missing_bucket_and_missing_credentials_are_one_line(
        s3_server: S3Server, s3_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NoSuchBucket, match="no bucket 'not-there-at-all'"):
        api.probe_location("s3://not-there-at-all/x", s3_server.endpoint)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(NoCredentials, match="no credentials for s3://bucket/x"):
        api.probe_location("s3://bucket/x", s3_server.endpoint)


def test_the_endpoint_comes_given_then_remembered_then_from_boto3s_configuration(
        s3_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "s3://bucket/repo"

    def chosen() -> str | None:
        root = api.locate(url)
        assert isinstance(root, RemoteRoot)
        return root.backend.endpoint  # type: ignore[attr-defined, no-any-return]

    assert chosen() is None  # AWS itself
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general.example:1")
    assert chosen() == "http://general.example:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3only.example:2")
    assert chosen() == "http://s3only.example:2"
    settings.remember_endpoint(settings.default_file(), url, "http://remembered.example:3")
    assert chosen() == "http://remembered.example:3"
    root = api.locate(url, "http://given.example:4")
    assert root.backend.endpoint == "http://given.example:4"  # type: ignore[attr-defined]
    assert api.locate(root) is root, "a located root is used as it is"


def test_a_profile_names_the_endpoint(s3_credentials: None, monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nendpoint_url = http://profile.example:5\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    root = api.locate("s3://bucket/repo")
    assert root.backend.endpoint == "http://profile.example:5"  # type: ignore[attr-defined]


def test_a_remote_root_is_never_used_as_a_local_path(s3_credentials: None) -> None:
    root = api.locate("s3://bucket/some/prefix", "http://127.0.0.1:9")
    assert str(root) == "s3://bucket/some/prefix"
    with pytest.raises(TypeError, match="not a folder of this computer"):
        os.fspath(root)
    with pytest.raises(TypeError):
        (root / "config.json").exists()
    with pytest.raises(ValueError, match="null"):
        Path(root).mkdir(parents=True)  # a plain Path made from it reaches no folder either


def test_a_repository_at_the_root_of_a_bucket(s3_server: S3Server, s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}"
    api.init_repository(url, endpoint=s3_server.endpoint)
    assert api.probe_location(url) == "repository"
    with Timekeep.open(url) as tk:
        assert str(tk.root) == url and tk.snapshots() == []


def test_settings_keep_a_bucket_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings.add_destination(path, "s3://bucket/laptop/")
    data = settings.read(path)
    assert data["repository"] == "s3://bucket/laptop" and data["destinations"] == ["s3://bucket/laptop"]
    settings.remember_endpoint(path, "s3://bucket/laptop/", "http://nas:9000")
    assert settings.endpoint_for(settings.read(path), "s3://bucket/laptop") == "http://nas:9000"


def test_an_endpoint_for_a_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from timekeep.core.cli.main import main

    assert main(["init", str(tmp_path / "repo"), "--endpoint", "http://nas:9000", "--encryption", "none"]) == 2
    assert "--endpoint is for a repository in a bucket" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()
