"""Keeping the passphrase in the system keyring, the one way for each job: `timekeep unlock --remember` and
`timekeep key remember` keep a passphrase once it opens the key and refuse a recovery key with the same one
line (exit 2), keeping nothing; a passphrase just set or unlocked with is kept without deriving again, and a
recovery key is refused there too. Backend: a real Secret Service, GNOME Keyring's daemon on a D-Bus session
bus of the test's own (tests/keyring_support.py), in this process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.keyring_support import needs_secret_service, secret_service
from tests.test_cli_key import cli, one_line
from timekeep.core.api import init_repository, keep_new_passphrase
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.crypto.keychain import Keychain
from timekeep.core.errors import UsageError
from timekeep.core.storage.layout import load_config

PASSPHRASE = "lanterns on the towpath"


@needs_secret_service
def test_unlock_remember_keeps_what_key_remember_keeps_and_refuses_a_recovery_key_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))  # no agent listens there: --remember alone
    repo = tmp_path / "drive" / "repo"
    recovery = init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    assert recovery is not None
    rid = load_config(repo).repository_id
    with secret_service(tmp_path / "session", monkeypatch):
        refusals = []
        for command in (["unlock", "--remember"], ["key", "remember"]):
            code, out, err = cli(capsys, *command, "--repo", str(repo), secret=recovery)
            assert code == 2 and out == "" and "That is the recovery key" in one_line(err), (command, err)
            assert Keychain().lookup(rid) is None, command
            refusals.append(err)
        assert refusals[0] == refusals[1]  # one function says it
        code, out, err = cli(capsys, "unlock", "--remember", "--repo", str(repo), secret="not the passphrase")
        assert code == 2 and "Wrong passphrase" in one_line(err) and Keychain().lookup(rid) is None
        code, out, err = cli(capsys, "unlock", "--remember", "--repo", str(repo), secret=PASSPHRASE)
        assert code == 0 and "kept in the system keyring" in out, err
        assert Keychain().lookup(rid) == PASSPHRASE
        with pytest.raises(UsageError, match="That is the recovery key"):
            keep_new_passphrase(repo, recovery)
        assert Keychain().lookup(rid) == PASSPHRASE
