"""The keyring slot: a passphrase kept in the keyring brings a random secret beside it that opens a key slot of
its own through HKDF, so unattended unlocks (the agent, a CLI command, the window) skip Argon2 while a typed or
given passphrase keeps its cost. The slot opens with nothing else, reveals nothing on the drive, goes with
`key forget` (and is replaced, not piled up, by each `key remember`), and a slot removed or a secret lost falls
back to the kept passphrase. Backend: a real Secret Service, GNOME Keyring's daemon on a D-Bus session bus of
the test's own (tests/keyring_support.py), in this process."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.keyring_support import HAVE_SECRET_SERVICE, secret_service
from tests.test_cli_key import cli
from timekeep.core import api, unlocking
from timekeep.core.api import init_repository
from timekeep.core.crypto import keys, sealing
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.crypto.keychain import Keychain
from timekeep.core.crypto.slots import SlotKind
from timekeep.core.crypto.unlock import PassphraseSource, Source
from timekeep.core.errors import NoKeySlot, WrongKey
from timekeep.core.storage.layout import load_config

PASSPHRASE = "barges under the viaduct"


@pytest.fixture
def keyring_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A Secret Service of the test's own, as every other keyring test has."""
    if not HAVE_SECRET_SERVICE:
        pytest.skip("needs Debian's gnome-keyring and dbus (apt-get install gnome-keyring dbus)")
    with secret_service(tmp_path / "session", monkeypatch):
        yield


def _slots(repo: Path, rid: str) -> dict[str, SlotKind]:
    return dict(keys.list_slots(repo, rid))


def _keyring_source() -> PassphraseSource:
    return PassphraseSource({}, keychain=Keychain())


@pytest.mark.usefixtures("keyring_session")
def test_a_kept_passphrase_unlocks_through_a_keyring_slot_of_its_own(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "drive" / "repo"
    recovery = init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    assert recovery is not None
    rid = load_config(repo).repository_id
    code, _, err = cli(capsys, "key", "remember", "--repo", str(repo), secret=PASSPHRASE)
    assert code == 0, err
    chain = Keychain()
    secret = chain.lookup_slot_secret(rid)
    assert chain.lookup(rid) == PASSPHRASE and secret is not None and len(secret) == 32
    kinds = _slots(repo, rid)
    assert sorted(kinds.values()) == [SlotKind.KEYRING, SlotKind.PASSPHRASE, SlotKind.RECOVERY]

    opened = _keyring_source().open(repo, rid, load_config(repo).key_check)
    assert opened.unlocked.kind == SlotKind.KEYRING and opened.source == Source.KEYRING
    assert opened.secret == PASSPHRASE  # callers see the kept passphrase, as before
    assert opened.unlocked.key.check() == load_config(repo).key_check

    # the slot opens with its secret alone: neither the passphrase nor the recovery key opens it, and it
    # opens nothing of another repository
    with pytest.raises(WrongKey):
        keys.unlock_with_keyring_secret(repo, rid, bytes(32))
    assert keys.unlock(repo, rid, PASSPHRASE).kind == SlotKind.PASSPHRASE
    assert keys.unlock(repo, rid, recovery).kind == SlotKind.RECOVERY

    # the drive holds no trace of the secret
    for stored in repo.rglob("*"):
        if stored.is_file():
            data = stored.read_bytes()
            assert secret not in data and secret.hex().encode() not in data
            assert chain.backend.get_password("timekeep", f"repository {rid} keyring slot").encode() not in data


@pytest.mark.usefixtures("keyring_session")
def test_remembering_again_replaces_the_slot_and_forgetting_removes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "drive" / "repo"
    init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    rid = load_config(repo).repository_id
    for _ in range(3):
        code, _, err = cli(capsys, "key", "remember", "--repo", str(repo), secret=PASSPHRASE)
        assert code == 0, err
    kinds = _slots(repo, rid)
    assert list(kinds.values()).count(SlotKind.KEYRING) == 1
    secret = Keychain().lookup_slot_secret(rid)
    assert secret is not None
    assert keys.unlock_with_keyring_secret(repo, rid, secret).slot_id in kinds

    code, _, err = cli(capsys, "key", "forget", "--repo", str(repo))
    assert code == 0, err
    assert Keychain().lookup(rid) is None and Keychain().lookup_slot_secret(rid) is None
    assert SlotKind.KEYRING not in _slots(repo, rid).values()
    with pytest.raises(NoKeySlot):
        keys.unlock_with_keyring_secret(repo, rid, secret)


@pytest.mark.usefixtures("keyring_session")
def test_a_keyring_slot_removed_elsewhere_falls_back_to_the_kept_passphrase(tmp_path: Path) -> None:
    repo = tmp_path / "drive" / "repo"
    init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    config = load_config(repo)
    assert unlocking.holds_key(config)  # init keeps the new key for this process
    api.keep_new_passphrase(repo, PASSPHRASE)  # as the window does after init: from the key it holds
    slot = next(s for s, kind in _slots(repo, config.repository_id).items() if kind == SlotKind.KEYRING)
    keys.remove_slot(repo, slot)  # `timekeep key remove` on another computer, say
    opened = _keyring_source().open(repo, config.repository_id, config.key_check)
    assert opened.unlocked.kind == SlotKind.PASSPHRASE and opened.source == Source.KEYRING

    Keychain().store_slot_secret(config.repository_id, b"\x07" * 32)  # a secret that opens nothing here
    assert _keyring_source().open(repo, config.repository_id).unlocked.kind == SlotKind.PASSPHRASE


@pytest.mark.usefixtures("keyring_session")
def test_the_agent_s_quiet_unlock_and_a_backup_go_through_the_keyring_slot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIMEKEEP_PASSPHRASE", raising=False)
    repo, source = tmp_path / "drive" / "repo", tmp_path / "files"
    source.mkdir()
    (source / "note.txt").write_bytes(b"the towpath floods in March\n" * 100)
    init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    config = load_config(repo)
    api.keep_new_passphrase(repo, PASSPHRASE)
    sealing.forget(config.repository_id)  # a new process: nothing held
    assert api.unlock_quietly(repo)
    with api.Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(bytes(source))
        tk.backup()
    sealing.forget(config.repository_id)
    assert api.unlock_quietly(repo)
    with api.Timekeep.open(repo) as tk:
        out = io.BytesIO()
        tk.write_version(tk.plan(bytes(source / "note.txt"), tk.snapshots()[-1].id), out)
        assert out.getvalue() == (source / "note.txt").read_bytes()


def test_a_keyring_slot_is_listed_but_stays_out_of_an_export(tmp_path: Path) -> None:
    """Without a keyring at all: the slot is listed, and an export leaves it out (it opens only with one
    computer's keyring, and a Timekeep before keyring slots refuses an export holding one), so the export a
    person keeps imports anywhere, keyring slot or not."""
    repo = tmp_path / "repo"
    init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    config = load_config(repo)
    key = keys.unlock(repo, config.repository_id, PASSPHRASE).key
    keys.add_keyring_slot(repo, config.repository_id, key)
    assert sorted(info.kind for info in api.key_slots(repo)) == ["keyring", "passphrase", "recovery"]
    assert api.export_keys(repo, tmp_path / "keys.export") == 2
    exported = json.loads((tmp_path / "keys.export").read_text())
    assert sorted(slot["kind"] for slot in exported["slots"]) == ["passphrase", "recovery"]
    for slot_id, _ in keys.list_slots(repo, config.repository_id):
        keys.remove_slot(repo, slot_id)  # keys/ lost
    assert api.import_keys(repo, tmp_path / "keys.export", secret=PASSPHRASE, interactive=False) == 2
    assert keys.unlock(repo, config.repository_id, PASSPHRASE).key.check() == config.key_check


def test_a_slot_of_a_kind_a_reader_does_not_know_is_passed_over_silently(tmp_path: Path) -> None:
    """What Timekeep before keyring slots does with one (FORMAT.md, "Key slots"), seen from this side: a slot
    whose kind this reader does not know is neither listed nor tried, and every slot it knows opens as before."""
    repo = tmp_path / "repo"
    recovery = init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    assert recovery is not None
    config = load_config(repo)
    key = keys.unlock(repo, config.repository_id, PASSPHRASE).key
    slot_id, _ = keys.add_keyring_slot(repo, config.repository_id, key)
    slot_file = keys.keys_dir(repo) / f"{slot_id}.json"
    slot_file.write_text(slot_file.read_text().replace('"keyring"', '"a kind from a newer Timekeep"'))
    assert sorted(info.kind for info in api.key_slots(repo)) == ["passphrase", "recovery"]
    assert keys.unlock(repo, config.repository_id, PASSPHRASE).key.check() == config.key_check
    assert keys.unlock(repo, config.repository_id, recovery).key.check() == config.key_check
