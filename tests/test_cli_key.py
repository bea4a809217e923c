"""`timekeep key ...` end to end through the command line, each ending in a byte-exact restore: the passphrase
changed (the old one refused, the new one and the recovery key restore), a recovery key added (it restores),
the slots exported, all removed and imported back (restores); removals that would lock a person out refused;
bad input one line each with a meaningful exit code, never a traceback (issue 12)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring.core
import pytest
from keyring.backends.fail import Keyring as NoKeyring

from tests.helpers import make_tree, read_tree
from tests.treeops import payload
from timekeep.core.cli.main import main
from timekeep.core.crypto import kdf, sealing
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.storage.layout import load_config

OLD = "old words of a passphrase"
NEW = "brand new words"


@dataclass
class Repo:
    path: Path
    src: Path
    rid: str
    recovery: str
    tmp: Path


@pytest.fixture(autouse=True)
def quick_argon2_and_no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Test-cost Argon2 (the tuned one costs half a second a slot); no system keyring in this process (the
    Secret Service is tested in tests/test_cli_key_keyring.py)."""
    monkeypatch.setattr(kdf, "tune", lambda *a, **k: TEST_PARAMS)
    before = keyring.core.get_keyring()
    keyring.core.set_keyring(NoKeyring())
    monkeypatch.delenv("TIMEKEEP_PASSPHRASE", raising=False)
    yield
    keyring.core.set_keyring(before)


def cli(capsys: pytest.CaptureFixture[str], *args: str, secret: str | None = None) -> tuple[int, str, str]:
    """One command in this process, as a fresh one: nothing unlocked yet, `secret` in $TIMEKEEP_PASSPHRASE."""
    sealing._unlocked.clear()
    if secret is None:
        os.environ.pop("TIMEKEEP_PASSPHRASE", None)
    else:
        os.environ["TIMEKEEP_PASSPHRASE"] = secret
    try:
        code = main(list(args))
    finally:
        os.environ.pop("TIMEKEEP_PASSPHRASE", None)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def words(tmp: Path, text: str) -> str:
    path = tmp / f"words-{len(list(tmp.glob('words-*')))}"
    path.write_text(text + "\n")
    return str(path)


@pytest.fixture
def repo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Repo:
    """An encrypted repository made by `timekeep init` (the default), one folder backed up."""
    src = Path(os.path.realpath(tmp_path)) / "papers"
    make_tree(src, {"letter.txt": b"Dear aunt,\n" * 50, "big.bin": payload(7, 300_000), "deep": {"a.txt": b"a"}})
    path = tmp_path / "drive" / "repo"
    code, out, err = cli(capsys, "init", str(path), secret=OLD)
    assert code == 0, err
    recovery = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Recovery key"))
    assert cli(capsys, "add", str(src), "--repo", str(path), secret=OLD)[0] == 0
    assert cli(capsys, "backup", "--repo", str(path), secret=OLD)[0] == 0
    return Repo(path, src, load_config(path).repository_id, recovery, tmp_path)


def restores_exactly(capsys: pytest.CaptureFixture[str], repo: Repo, secret: str) -> bool:
    dest = repo.tmp / f"restored-{len(list(repo.tmp.glob('restored-*')))}"
    code, _, err = cli(capsys, "restore", str(repo.src), "--to", str(dest), "--repo", str(repo.path), secret=secret)
    assert code == 0, err
    return read_tree(dest / repo.src.name) == read_tree(repo.src)


def refused_wrong(capsys: pytest.CaptureFixture[str], repo: Repo, secret: str) -> bool:
    code, out, err = cli(capsys, "snapshots", "--repo", str(repo.path), secret=secret)
    return code == 2 and out == "" and ("Wrong" in one_line(err) or "no passphrase key slot" in err)


def slots(capsys: pytest.CaptureFixture[str], repo: Repo) -> list[tuple[str, str]]:
    code, out, err = cli(capsys, "key", "list", "--repo", str(repo.path))
    assert code == 0, err
    return [(line.split()[0], line.split()[1]) for line in out.splitlines()]


def test_init_encrypts_by_default(repo: Repo) -> None:
    assert load_config(repo.path).encrypted
    assert len(repo.recovery.split("-")) == 9


def test_key_change_refuses_the_old_passphrase_and_restores_with_the_new_one_and_the_recovery_key(
        capsys: pytest.CaptureFixture[str], repo: Repo) -> None:
    code, out, err = cli(capsys, "key", "change", "--repo", str(repo.path), "--new-passphrase-file",
                         words(repo.tmp, NEW), secret=OLD)
    assert code == 0, err
    assert out.startswith("Changed the passphrase") and len(out.splitlines()) == 1
    assert refused_wrong(capsys, repo, OLD)
    assert restores_exactly(capsys, repo, NEW)
    assert restores_exactly(capsys, repo, repo.recovery)
    # a forgotten passphrase: the recovery key changes it
    code, _, err = cli(capsys, "key", "change", "--repo", str(repo.path), "--new-passphrase-file",
                       words(repo.tmp, "third words"), secret=repo.recovery)
    assert code == 0, err
    assert refused_wrong(capsys, repo, NEW)
    assert restores_exactly(capsys, repo, "third words")
    assert [kind for _, kind in slots(capsys, repo)].count("passphrase") == 1


def test_add_recovery_prints_the_new_key_once_and_it_restores(capsys: pytest.CaptureFixture[str],
                                                              repo: Repo) -> None:
    code, out, err = cli(capsys, "key", "add-recovery", "--repo", str(repo.path), secret=OLD)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Recovery key (shown only now): ") and "Keep it apart" in lines[1]
    second = lines[0].split(": ", 1)[1]
    assert second != repo.recovery
    assert restores_exactly(capsys, repo, second)
    assert restores_exactly(capsys, repo, repo.recovery)
    assert sorted(kind for _, kind in slots(capsys, repo)) == ["passphrase", "recovery", "recovery"]


def test_export_then_every_slot_gone_then_import_restores(capsys: pytest.CaptureFixture[str], repo: Repo,
                                                          tmp_path: Path) -> None:
    export = tmp_path / "keys-export.json"
    code, out, err = cli(capsys, "key", "export", str(export), "--repo", str(repo.path))
    assert code == 0, err
    assert "timekeep key import" in out and stat.S_IMODE(export.stat().st_mode) == 0o600
    assert OLD.encode() not in export.read_bytes() and repo.recovery.encode() not in export.read_bytes()
    code, _, err = cli(capsys, "key", "export", str(export), "--repo", str(repo.path))
    assert code == 2 and "already exists" in one_line(err)
    for slot_id, _ in slots(capsys, repo)[:-1]:  # remove what may be removed, then lose the rest
        code, _, err = cli(capsys, "key", "remove", slot_id, "--force", "--repo", str(repo.path),
                           secret=repo.recovery)
        assert code == 0, err
    (last,) = slots(capsys, repo)
    code, _, err = cli(capsys, "key", "remove", last[0], "--force", "--repo", str(repo.path), secret=repo.recovery)
    assert code == 2 and "only one left" in one_line(err)
    for path in (repo.path / "keys").iterdir():
        path.unlink()
    code, _, err = cli(capsys, "snapshots", "--repo", str(repo.path), secret=OLD)
    assert code == 2 and "timekeep key import FILE --repo" in one_line(err)  # the way back, named
    code, _, err = cli(capsys, "key", "import", str(export), "--repo", str(repo.path), secret="not it")
    assert code == 2 and "Wrong passphrase" in one_line(err)
    assert not list((repo.path / "keys").iterdir())  # nothing written on a wrong secret
    code, out, err = cli(capsys, "key", "import", str(export), "--repo", str(repo.path), secret=OLD)
    assert code == 0 and "Put back 2 key slots" in out, err
    assert restores_exactly(capsys, repo, OLD)
    assert restores_exactly(capsys, repo, repo.recovery)
    code, out, _ = cli(capsys, "key", "import", str(export), "--repo", str(repo.path), secret=OLD)
    assert code == 0 and "nothing was put back" in out


@pytest.mark.parametrize("loss", ["emptied", "gone", "garbled"])
def test_a_keys_folder_with_nothing_readable_names_the_way_back(capsys: pytest.CaptureFixture[str], repo: Repo,
                                                                 loss: str) -> None:
    """Every slot lost or unreadable: unlocking and `key list` say, in one line, that `timekeep key import`
    puts back the slots `key export` saved, and with which repository."""
    keys = repo.path / "keys"
    for path in keys.iterdir():
        if loss == "garbled":
            path.write_bytes(b"\x00not a slot")
        else:
            path.unlink()
    if loss == "gone":
        keys.rmdir()
    for secret in (OLD, repo.recovery):
        code, out, err = cli(capsys, "snapshots", "--repo", str(repo.path), secret=secret)
        assert code == 2 and out == "" and f"timekeep key import FILE --repo {repo.path}" in one_line(err), err
    code, out, err = cli(capsys, "key", "list", "--repo", str(repo.path))
    assert code == 2 and "timekeep key import" in one_line(err)


def test_removals_that_would_lock_a_person_out_are_refused(capsys: pytest.CaptureFixture[str], repo: Repo) -> None:
    kinds = {kind: slot_id for slot_id, kind in slots(capsys, repo)}
    remove = ["key", "remove", kinds["passphrase"], "--repo", str(repo.path)]
    code, _, err = cli(capsys, *remove, secret=OLD)
    assert code == 2 and "the secret just given opens" in one_line(err)
    code, _, err = cli(capsys, *remove, secret=repo.recovery)
    assert code == 2 and "last passphrase slot" in one_line(err)
    code, _, err = cli(capsys, "key", "remove", kinds["recovery"], "--repo", str(repo.path), secret="not it")
    assert code == 2 and "Wrong passphrase" in one_line(err)
    assert len(slots(capsys, repo)) == 2  # nothing removed so far
    code, out, err = cli(capsys, *remove, "--force", secret=repo.recovery)
    assert code == 0 and "Removed the passphrase key slot" in out, err
    assert refused_wrong(capsys, repo, OLD)
    assert restores_exactly(capsys, repo, repo.recovery)
    code, _, err = cli(capsys, "key", "add-recovery", "--repo", str(repo.path), secret=repo.recovery)
    assert code == 0, err
    code, out, err = cli(capsys, "key", "remove", kinds["recovery"], "--force", "--repo", str(repo.path),
                         secret=repo.recovery)
    assert code == 0 and "No recovery key is left" not in out, err  # the new one is


def test_bad_input_is_one_line_with_a_meaningful_exit_code(capsys: pytest.CaptureFixture[str], repo: Repo,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))  # no agent listens there
    at = ["--repo", str(repo.path)]
    other = tmp_path / "other"
    assert cli(capsys, "init", str(other), secret=OLD)[0] == 0
    foreign = tmp_path / "foreign.json"
    assert cli(capsys, "key", "export", str(foreign), "--repo", str(other))[0] == 0
    not_export = tmp_path / "letter.txt"
    not_export.write_text("Dear aunt,\n")
    plain = tmp_path / "plain"
    assert cli(capsys, "init", str(plain), "--encryption", "none")[0] == 0
    cases = [
        (["key", "import", str(tmp_path / "missing.json"), *at], OLD, "cannot be read"),
        (["key", "import", str(foreign), *at], OLD, "another repository"),
        (["key", "import", str(not_export), *at], OLD, "not a key export"),
        (["key", "remove", "0" * 32, *at], OLD, "no key slot"),
        (["key", "add-recovery", *at], "not it", "Wrong passphrase"),
        (["key", "change", "--new-passphrase-file", str(tmp_path / "missing"), *at], OLD, "cannot be read"),
        (["key", "change", "--new-passphrase-file", words(tmp_path, NEW), *at], "not it", "Wrong passphrase"),
        (["key", "list", "--repo", str(plain)], None, "not encrypted"),
        (["key", "remember", *at], repo.recovery, "recovery key"),
        (["key", "remember", *at], OLD, "did not keep the passphrase"),
        (["unlock", "--remember", *at], repo.recovery, "That is the recovery key"),  # as `key remember` says
        (["unlock", "--remember", *at], OLD, "did not keep the passphrase"),
    ]
    for args, secret, said in cases:
        code, out, err = cli(capsys, *args, secret=secret)
        assert code in (1, 2) and said in one_line(err) and out == "", (args, code, err)
    assert restores_exactly(capsys, repo, OLD)  # none of it changed a thing


def run_detached(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`timekeep` in a session of its own: no terminal to ask on, as under cron or a service."""
    code = ("import sys; from timekeep.core.crypto import kdf; kdf.tune = lambda *a, **k: kdf.TEST_PARAMS; "
            "from timekeep.core.cli.main import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, start_new_session=True, timeout=60)


def test_without_a_passphrase_or_a_terminal_init_refuses_and_names_the_ways(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TIMEKEEP_PASSPHRASE"}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    done = run_detached(["init", str(tmp_path / "repo")], env)
    assert done.returncode == 2 and done.stdout == ""
    assert "--encryption none" in one_line(done.stderr) and "TIMEKEEP_PASSPHRASE" in done.stderr
    assert not (tmp_path / "repo").exists()
    made = run_detached(["init", str(tmp_path / "repo"), "--keyring"], {**env, "TIMEKEEP_PASSPHRASE": OLD})
    assert made.returncode == 0 and load_config(tmp_path / "repo").encrypted
    assert "not keep the passphrase" in one_line(made.stderr) and "created" in made.stderr
    changed = run_detached(["key", "change", "--repo", str(tmp_path / "repo")], {**env, "TIMEKEEP_PASSPHRASE": OLD})
    assert changed.returncode == 2 and "--new-passphrase-file" in one_line(changed.stderr)
