"""`timekeep` on a repository in a bucket, as a person types it: init with --endpoint (remembered, so later
commands need no flag), add, backup, ls, restore, every other --repo command, and the one-line errors with
their exit codes for missing credentials, a missing bucket, refused keys and a server out of reach."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import make_tree, read_tree
from tests.s3_support import S3Server, free_port
from timekeep.core.cli.main import main
from timekeep.core.crypto import kdf
from timekeep.core.crypto.kdf import TEST_PARAMS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def s3_server(rclone_server: S3Server) -> S3Server:
    """The command line is the same whatever the server: it runs against rclone's (a real S3 server on disk);
    the engine's own tests run against rclone's and moto's."""
    return rclone_server


def timekeep(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`timekeep ARGS` as its own process, with this test's environment (credentials, private folders)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-m", "timekeep.core.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=120,
                          check=False)


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    """The error a failed command printed: one line, no traceback."""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0].startswith("timekeep: ")
    return lines[0]


def test_init_backup_ls_restore_through_the_command_line(s3_server: S3Server, s3_bucket: str,
                                                          tmp_path: Path) -> None:
    url = f"s3://{s3_bucket}/family/laptop"
    docs = tmp_path / "Documents"
    make_tree(docs, {"letter.txt": b"Dear Ada,\n" * 300, "photos": {"cat.jpg": os.urandom(90_000)}})
    made = timekeep("init", url, "--endpoint", s3_server.endpoint, "--encryption", "none")
    assert made.returncode == 0, made.stderr
    assert f"repository at {url}" in made.stdout
    added = timekeep("add", str(docs), "--repo", url)  # the endpoint was remembered by init
    assert added.returncode == 0, added.stderr
    backed = timekeep("backup", "--repo", url)
    assert backed.returncode == 0, backed.stderr
    listed = timekeep("ls", str(docs), "--repo", url)
    assert listed.returncode == 0, listed.stderr
    assert "letter.txt" in listed.stdout and "photos" in listed.stdout
    dest = tmp_path / "restored"
    dest.mkdir()
    restored = timekeep("restore", str(docs), "--to", str(dest), "--repo", url)
    assert restored.returncode == 0, restored.stderr
    assert read_tree(dest / "Documents") == read_tree(docs)


def test_every_repo_command_works_in_a_bucket(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """In process, for speed: the same main() the command runs."""
    url = f"s3://{s3_bucket}/desk"
    docs = tmp_path / "docs"
    make_tree(docs, {"a.txt": b"first\n"})

    def ok(*args: str) -> str:
        code = main([*args, "--repo", url])
        out, err = capsys.readouterr()
        assert code == 0, f"{args}: {err}"
        return out

    assert main(["init", url, "--endpoint", s3_server.endpoint, "--encryption", "none"]) == 0
    ok("add", str(docs))
    ok("backup")
    (docs / "a.txt").write_bytes(b"second\n")
    ok("backup")
    assert "2" in ok("snapshots")
    assert "modified" in ok("log", str(docs / "a.txt"))
    assert ok("cat", str(docs / "a.txt"), "--at", "1") == "first\n"
    ok("folders")
    ok("check", "--read-data")
    ok("coalesce", "--drop", "1")
    ok("rebuild-index")
    assert ok("cat", str(docs / "a.txt")) == "second\n"
    code = main(["make-private", "--repo", url])
    assert code == 2 and "bucket" in capsys.readouterr().err


def test_an_encrypted_repository_in_a_bucket_from_the_command_line(
        s3_server: S3Server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"s3://{s3_bucket}/secret"
    monkeypatch.setattr(kdf, "tune", lambda *a, **k: TEST_PARAMS)  # the tuned cost is half a second a slot
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", "correct horse battery staple")
    docs = tmp_path / "docs"
    make_tree(docs, {"diary.txt": b"today I wrote tests\n"})
    assert main(["init", url, "--endpoint", s3_server.endpoint, "--no-keyring"]) == 0
    assert "Recovery key" in capsys.readouterr().out
    assert main(["add", str(docs), "--repo", url]) == 0
    assert main(["backup", "--repo", url]) == 0
    assert main(["key", "list", "--repo", url]) == 0
    assert "passphrase" in capsys.readouterr().out
    assert main(["cat", str(docs / "diary.txt"), "--repo", url]) == 0
    assert capsys.readouterr().out == "today I wrote tests\n"
    wrong = timekeep("cat", str(docs / "diary.txt"), "--repo", url, env={"TIMEKEEP_PASSPHRASE": "a wrong one"})
    assert wrong.returncode == 2 and "passphrase" in one_line(wrong)  # this process holds the key; that one not
    assert main(["key", "add-recovery", "--repo", url]) == 0
    exported = tmp_path / "keys.json"
    assert main(["key", "export", str(exported), "--repo", url]) == 0
    new = tmp_path / "new-passphrase"
    new.write_text("a new passphrase for the bucket\n")
    assert main(["key", "change", "--new-passphrase-file", str(new), "--repo", url]) == 0
    capsys.readouterr()
    assert main(["key", "list", "--json", "--repo", url]) == 0
    assert capsys.readouterr().out.count('"recovery"') == 2
    changed = timekeep("cat", str(docs / "diary.txt"), "--repo", url,
                       env={"TIMEKEEP_PASSPHRASE": "a new passphrase for the bucket"})
    assert changed.returncode == 0 and changed.stdout == "today I wrote tests\n", changed.stderr
    assert main(["key", "import", str(exported), "--repo", url]) == 0  # the old passphrase slot comes back
    old = timekeep("cat", str(docs / "diary.txt"), "--repo", url)
    assert old.returncode == 0, old.stderr


def test_no_credentials_is_one_line_exit_2(s3_server: S3Server, s3_credentials: None) -> None:
    run = timekeep("init", "s3://some-bucket/x", "--endpoint", s3_server.endpoint, "--encryption", "none",
                   env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert run.returncode == 2
    assert "no credentials for s3://some-bucket/x" in one_line(run)


def test_a_missing_bucket_is_one_line_exit_2(s3_server: S3Server, s3_credentials: None) -> None:
    run = timekeep("init", "s3://no-such-bucket-here/x", "--endpoint", s3_server.endpoint, "--encryption", "none")
    assert run.returncode == 2
    assert "no bucket 'no-such-bucket-here'" in one_line(run)


def test_refused_keys_are_one_line_exit_2(rclone_server: S3Server, s3_credentials: None) -> None:
    """rclone checks the keys (moto takes any)."""
    bucket = rclone_server.new_bucket()
    run = timekeep("snapshots", "--repo", f"s3://{bucket}/x", "--endpoint", rclone_server.endpoint,
                   env={"AWS_SECRET_ACCESS_KEY": "not-the-secret"})
    assert run.returncode == 2
    assert "refused access" in one_line(run)


def test_a_server_out_of_reach_is_one_line_exit_4(s3_credentials: None) -> None:
    run = timekeep("snapshots", "--repo", "s3://some-bucket/x", "--endpoint", f"http://127.0.0.1:{free_port()}")
    assert run.returncode == 4
    assert "cannot reach the S3 server" in one_line(run)


def test_a_bad_location_or_endpoint_is_one_line_exit_2(s3_credentials: None) -> None:
    bad_bucket = timekeep("snapshots", "--repo", "s3://Bad_Bucket/x")
    assert bad_bucket.returncode == 2 and "cannot be a bucket name" in one_line(bad_bucket)
    bad_endpoint = timekeep("init", "s3://bucket/x", "--endpoint", "nas:9000", "--encryption", "none")
    assert bad_endpoint.returncode == 2 and "not an endpoint URL" in one_line(bad_endpoint)
