"""The repository key and its slots: create, unlock by passphrase or recovery key, change, add, export,
and every way a slot file can be damaged, swapped or hostile (issue 12)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from timekeep.core.crypto import kdf, keys, slots
from timekeep.core.crypto.kdf import FLOOR, TEST_PARAMS, Argon2Params
from timekeep.core.crypto.slots import SlotKind
from timekeep.core.crypto.subkeys import Purpose, RepositoryKey
from timekeep.core.errors import (
    KeySlotDamaged,
    NoKeySlot,
    RecoveryKeyTypo,
    UsageError,
    WrongPassphrase,
    WrongRecoveryKey,
)

REPO_ID = "0123456789abcdef0123456789abcdef"
OTHER_ID = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, keys.Created]:
    return tmp_path, keys.create(tmp_path, REPO_ID, "correct horse", TEST_PARAMS)


def slot_path(root: Path, slot_id: str) -> Path:
    return root / "keys" / f"{slot_id}.json"


def edit(path: Path, change: Any) -> None:
    fields = json.loads(path.read_bytes())
    change(fields)
    path.write_text(json.dumps(fields))


# --- keys and subkeys --------------------------------------------------------------------------------------------


def test_subkeys_differ_per_purpose_and_per_repository() -> None:
    one, two = RepositoryKey(os.urandom(32)), RepositoryKey(os.urandom(32))
    derived = [key.subkey(p) for key in (one, two) for p in Purpose]
    assert len(set(derived)) == len(derived) == 2 * len(Purpose)
    assert all(len(k) == 32 for k in derived)
    assert one.subkey(Purpose.OBJECTS) == RepositoryKey(one.master).subkey(Purpose.OBJECTS)  # stable
    assert one.master not in derived


def test_a_key_never_shows_in_its_repr() -> None:
    key = RepositoryKey(bytes(range(32)))
    assert key.master.hex() not in repr(key) and str(list(key.master)) not in repr(key)
    with pytest.raises(ValueError):
        RepositoryKey(b"short")


# --- create and unlock -------------------------------------------------------------------------------------------


def test_create_gives_a_passphrase_slot_and_a_recovery_slot_both_opening_the_key(repo: tuple[Path, keys.Created]
                                                                                   ) -> None:
    root, made = repo
    assert sorted(p.name for p in (root / "keys").iterdir()) == sorted(
        [f"{made.passphrase_slot}.json", f"{made.recovery_slot}.json"])
    by_passphrase = keys.unlock(root, REPO_ID, "correct horse")
    by_recovery = keys.unlock(root, REPO_ID, made.recovery_text)
    assert by_passphrase.key == by_recovery.key == made.key
    assert (by_passphrase.kind, by_passphrase.slot_id) == (SlotKind.PASSPHRASE, made.passphrase_slot)
    assert (by_recovery.kind, by_recovery.slot_id) == (SlotKind.RECOVERY, made.recovery_slot)
    assert keys.unlock(root, REPO_ID, made.recovery_text.lower().replace("-", " ")).key == made.key


def test_slot_files_are_private_and_hold_no_key(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    assert stat.S_IMODE(os.stat(root / "keys").st_mode) == 0o700
    for path in (root / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        raw = path.read_bytes()
        assert made.key.master not in raw and base64.b64encode(made.key.master) not in raw
        assert made.key.master.hex().encode() not in raw


def test_the_passphrase_is_read_in_one_unicode_form(tmp_path: Path) -> None:
    made = keys.create(tmp_path, REPO_ID, "caf\u00e9", TEST_PARAMS)  # é precomposed
    assert keys.unlock(tmp_path, REPO_ID, "cafe\u0301").key == made.key  # e + combining accent


@pytest.mark.parametrize("secret", ["correct horsE", "correct horse ", "", "x" * 300])
def test_a_wrong_passphrase_is_one_line_exit_2(repo: tuple[Path, keys.Created], secret: str) -> None:
    root, _ = repo
    with pytest.raises(WrongPassphrase) as caught:
        keys.unlock(root, REPO_ID, secret)
    assert caught.value.exit_code == 2
    assert str(caught.value) == "Wrong passphrase: it opens no key slot of this repository."


def test_a_wrong_recovery_key_is_one_line_exit_2(repo: tuple[Path, keys.Created]) -> None:
    root, _ = repo
    (root / "elsewhere").mkdir()
    other = keys.create(root / "elsewhere", REPO_ID, "x", TEST_PARAMS).recovery_text  # valid checksum, not ours
    with pytest.raises(WrongRecoveryKey) as caught:
        keys.unlock(root, REPO_ID, other)
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_a_mistyped_recovery_key_is_caught_before_any_slot_is_read(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    for path in (root / "keys").iterdir():
        path.write_text("not even json")  # were a slot read, this would say the slot is damaged
    typo = made.recovery_text[:3] + ("7" if made.recovery_text[3] != "7" else "8") + made.recovery_text[4:]
    with pytest.raises(RecoveryKeyTypo) as caught:
        keys.unlock(root, REPO_ID, typo)
    assert caught.value.exit_code == 2 and "typo" in str(caught.value)


def test_no_slots_at_all_says_so_and_names_the_way_back(tmp_path: Path) -> None:
    with pytest.raises(NoKeySlot, match=r"holds no key slot that can be read.*timekeep key import FILE --repo"):
        keys.unlock(tmp_path, REPO_ID, "anything")


def test_unlock_tries_every_slot(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    second = keys.add_passphrase(root, REPO_ID, made.key, "second words", TEST_PARAMS)
    assert keys.unlock(root, REPO_ID, "second words").slot_id == second
    assert keys.unlock(root, REPO_ID, "correct horse").slot_id == made.passphrase_slot


@pytest.mark.parametrize("bad", ["", "AAAAAA-AAAAAA-AAAAAA-AAAAAA-AAAAAA-AAAAAA-AAAAAA-AAAAAA-AAAAAA"])
def test_a_passphrase_that_protects_nothing_or_looks_like_a_recovery_key_is_refused(tmp_path: Path, bad: str
                                                                                     ) -> None:
    with pytest.raises(UsageError):
        keys.create(tmp_path, REPO_ID, bad, TEST_PARAMS)
    assert not (tmp_path / "keys").exists() or not list((tmp_path / "keys").iterdir())


# --- change, add, export -----------------------------------------------------------------------------------------


def test_change_passphrase_rewraps_the_same_key_and_retires_the_old(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    new_slot = keys.change_passphrase(root, REPO_ID, "correct horse", "battery staple", TEST_PARAMS)
    assert keys.unlock(root, REPO_ID, "battery staple").key == made.key
    with pytest.raises(WrongPassphrase):
        keys.unlock(root, REPO_ID, "correct horse")
    assert not slot_path(root, made.passphrase_slot).exists() and slot_path(root, new_slot).exists()
    assert keys.unlock(root, REPO_ID, made.recovery_text).key == made.key  # the recovery key still works


def test_change_passphrase_with_the_recovery_key_replaces_a_lost_passphrase(repo: tuple[Path, keys.Created]
                                                                            ) -> None:
    root, made = repo
    keys.change_passphrase(root, REPO_ID, made.recovery_text, "remembered now", TEST_PARAMS)
    assert keys.unlock(root, REPO_ID, "remembered now").key == made.key
    with pytest.raises(WrongPassphrase):
        keys.unlock(root, REPO_ID, "correct horse")
    assert [kind for _, kind in keys.list_slots(root, REPO_ID)].count(SlotKind.RECOVERY) == 1


def test_change_passphrase_with_a_wrong_old_one_changes_nothing(repo: tuple[Path, keys.Created]) -> None:
    root, _ = repo
    before = sorted((root / "keys").iterdir())
    with pytest.raises(WrongPassphrase):
        keys.change_passphrase(root, REPO_ID, "guess", "mine now", TEST_PARAMS)
    assert sorted((root / "keys").iterdir()) == before


def test_add_recovery_key_gives_a_second_one_that_works(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    slot_id, text = keys.add_recovery_key(root, REPO_ID, made.key)
    assert text != made.recovery_text
    assert keys.unlock(root, REPO_ID, text).slot_id == slot_id
    assert keys.unlock(root, REPO_ID, made.recovery_text).slot_id == made.recovery_slot


def test_an_exported_slot_brought_back_opens_the_key(repo: tuple[Path, keys.Created], tmp_path: Path) -> None:
    root, made = repo
    kept = tmp_path / "kept-slot.json"
    keys.export_slot(root, made.passphrase_slot, kept)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    with pytest.raises(UsageError, match="already exists"):
        keys.export_slot(root, made.passphrase_slot, kept)
    for missing in ("0" * 32, f"../keys/{made.passphrase_slot}"):
        with pytest.raises(UsageError, match="no key slot"):
            keys.export_slot(root, missing, tmp_path / "other.json")
    for path in (root / "keys").iterdir():
        path.unlink()  # every slot on the drive lost
    os.replace(kept, slot_path(root, made.passphrase_slot))
    assert keys.unlock(root, REPO_ID, "correct horse").key == made.key


def test_leftover_temporaries_are_ignored_and_cleared_by_the_next_writer(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    left = root / "keys" / f".{'a' * 32}.json.999.tmp"
    left.write_text("half a slot")
    assert keys.unlock(root, REPO_ID, "correct horse").key == made.key
    keys.add_recovery_key(root, REPO_ID, made.key)
    assert not left.exists()


# --- damaged, swapped, hostile -----------------------------------------------------------------------------------


def _flip_wrapped(fields: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(fields["wrapped"]))
    raw[5] ^= 1
    fields["wrapped"] = base64.b64encode(bytes(raw)).decode()


EDITS = {
    "memory lowered": lambda f: f["kdf"].update(memory_kib=f["kdf"]["memory_kib"] + 1024),
    "iterations": lambda f: f["kdf"].update(iterations=3),
    "lanes": lambda f: f["kdf"].update(lanes=1),
    "salt": lambda f: f["kdf"].update(salt=base64.b64encode(bytes(16)).decode()),
    "wrapped key": _flip_wrapped,
    "nonce": lambda f: f.update(nonce=base64.b64encode(bytes(12)).decode()),
    "created": lambda f: f.update(created="2001-01-01T00:00:00Z"),
    "key check": lambda f: f.update(key_check="0" * 32),
    "extra field": lambda f: f.update(note="hi"),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_a_slot_with_any_field_edited_does_not_open(repo: tuple[Path, keys.Created], name: str) -> None:
    root, made = repo
    edit(slot_path(root, made.passphrase_slot), EDITS[name])
    with pytest.raises(WrongPassphrase):
        keys.unlock(root, REPO_ID, "correct horse")


def test_a_slot_copied_from_another_repository_is_refused_by_name(repo: tuple[Path, keys.Created],
                                                                  tmp_path: Path) -> None:
    root, _ = repo
    (tmp_path / "other").mkdir()
    other = keys.create(tmp_path / "other", OTHER_ID, "correct horse", TEST_PARAMS)
    for path in (root / "keys").iterdir():
        path.unlink()
    copied = slot_path(root, other.passphrase_slot)
    os.replace(slot_path(tmp_path / "other", other.passphrase_slot), copied)
    with pytest.raises(KeySlotDamaged, match=f"{copied}.*another repository"):
        keys.unlock(root, REPO_ID, "correct horse")
    edit(copied, lambda f: f.update(repository_id=REPO_ID))  # the id in the file rewritten: the seal still says no
    with pytest.raises(WrongPassphrase):
        keys.unlock(root, REPO_ID, "correct horse")


def test_a_slot_renamed_or_swapped_names_the_file(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    one, two = slot_path(root, made.passphrase_slot), slot_path(root, made.recovery_slot)
    tmp = one.with_name("swap")
    os.rename(one, tmp), os.rename(two, one), os.rename(tmp, two)
    with pytest.raises(KeySlotDamaged, match="renamed or swapped") as caught:
        keys.unlock(root, REPO_ID, "correct horse")
    assert str(min(one, two)) in str(caught.value) and "(1 more damaged)" in str(caught.value)


@pytest.mark.parametrize("cut", [0, 1, 40, -20, -2])
def test_a_truncated_slot_names_the_file(repo: tuple[Path, keys.Created], cut: int) -> None:
    root, made = repo
    path = slot_path(root, made.passphrase_slot)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(KeySlotDamaged, match=str(path)) as caught:
        keys.unlock(root, REPO_ID, "correct horse")
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


@pytest.mark.parametrize("kdf_fields, says", [
    ({"memory_kib": 64 * 1024 * 1024}, "memory_kib 67108864 lies outside"),  # 64 GiB asked for
    ({"iterations": 10_000}, "iterations 10000 lies outside"),
    ({"lanes": 255}, "lanes 255 lies outside"),
    ({"memory_kib": 8}, "memory_kib 8 lies outside"),  # a cheap derivation passed off
    ({"version": 16}, "Argon2 version 16"),
    ({"iterations": "2"}, "parameters are malformed"),
    ({"algorithm": "pbkdf2"}, "is not argon2id"),
])
def test_hostile_kdf_parameters_are_refused_before_deriving(repo: tuple[Path, keys.Created],
                                                            kdf_fields: dict[str, Any], says: str) -> None:
    root, made = repo
    path = slot_path(root, made.passphrase_slot)
    edit(path, lambda f: f["kdf"].update(kdf_fields))
    with pytest.raises(KeySlotDamaged, match=f"{path}.*{says}"):
        keys.unlock(root, REPO_ID, "correct horse")


def test_a_huge_slot_file_is_not_read_whole(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    path = slot_path(root, made.passphrase_slot)
    path.write_bytes(b" " * (slots.MAX_SLOT_BYTES + 1))
    with pytest.raises(KeySlotDamaged, match="larger than any key slot"):
        keys.unlock(root, REPO_ID, "correct horse")


def test_a_damaged_slot_is_passed_over_when_another_opens(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    spare = keys.add_passphrase(root, REPO_ID, made.key, "correct horse", TEST_PARAMS)
    broken = slot_path(root, made.passphrase_slot)
    broken.write_text("{")
    opened = keys.unlock(root, REPO_ID, "correct horse")
    assert opened.key == made.key and opened.slot_id == spare
    assert len(opened.skipped) == 1 and str(broken) in opened.skipped[0]
    with pytest.raises(WrongPassphrase, match=f"could not be tried.*{broken}"):
        keys.unlock(root, REPO_ID, "another")


def test_a_hostile_slot_with_its_own_key_is_refused_when_the_key_is_pinned(repo: tuple[Path, keys.Created],
                                                                           tmp_path: Path) -> None:
    """Whoever may write keys/ can wrap a key of their own under a passphrase they know: a caller that
    pins the repository's key check (`key_check`) never takes it."""
    root, made = repo
    for path in (root / "keys").iterdir():
        path.unlink()
    keys.create(root, REPO_ID, "attacker knows", TEST_PARAMS)
    with pytest.raises(KeySlotDamaged, match="not this repository's"):
        keys.unlock(root, REPO_ID, "attacker knows", key_check=made.key.check())
    assert keys.unlock(root, REPO_ID, "attacker knows").key != made.key  # unpinned: a different key, not ours


# --- Argon2id tuning ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds_at_base, expected", [
    (1.0, Argon2Params(memory_kib=32 * 1024, iterations=2, lanes=kdf.LANES)),  # scales memory first
    (0.25, Argon2Params(memory_kib=64 * 1024, iterations=4, lanes=kdf.LANES)),  # then passes, at 64 MiB
    (10.0, Argon2Params(memory_kib=FLOOR.memory_kib, iterations=2, lanes=kdf.LANES)),  # never below the floor
    (0.001, Argon2Params(memory_kib=kdf.MAX_TUNED_MEMORY_KIB, iterations=kdf.MAX_TUNED_ITERATIONS,
                         lanes=kdf.LANES)),  # a fast machine: capped
])
def test_tuning_aims_at_half_a_second_between_floor_and_caps(seconds_at_base: float, expected: Argon2Params
                                                             ) -> None:
    def measure(params: Argon2Params) -> float:  # time grows with memory × passes, from the base's time
        return seconds_at_base * params.memory_kib * params.iterations / (64 * 1024 * 2)

    tuned = kdf.tune(measure=measure)
    assert tuned == expected
    assert tuned.problem() is None


def test_tuning_times_the_passes_again_at_the_memory_cap() -> None:
    """A derivation costs a fixed start-up besides its passes, so scaling from the base alone undershoots: the
    passes are timed once more at the chosen memory, and set from that."""
    def measure(params: Argon2Params) -> float:
        return 0.06 + 0.03 * params.iterations * params.memory_kib / kdf.MAX_TUNED_MEMORY_KIB

    tuned = kdf.tune(measure=measure)  # the base (2 passes) takes 0.12 s: a first guess of 8 passes (0.3 s)
    assert tuned == Argon2Params(memory_kib=kdf.MAX_TUNED_MEMORY_KIB, iterations=13, lanes=kdf.LANES)


def test_tuning_on_this_machine_gives_parameters_an_opener_accepts() -> None:
    tuned = kdf.tune(target_s=0.05)  # small target: keeps the test quick; the rule is the one above
    assert tuned.problem() is None and tuned.memory_kib >= FLOOR.memory_kib
