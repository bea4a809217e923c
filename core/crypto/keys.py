"""The repository key on the drive: create it, unlock it, change the passphrase, add a recovery key, export.

Each slot is a file of its own under `keys/`, published under a name no file has yet. Changing the
passphrase writes the new slot before removing the old, so a writer killed at any moment leaves a slot
that opens with the old passphrase or the new one. Unlocking tries every slot of the secret's kind; a
damaged slot is skipped and reported, and nothing ever hands back a key that failed its tag or its check.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from timekeep.core.crypto import kdf, recovery, slot_store, slots
from timekeep.core.crypto.kdf import Argon2Params
from timekeep.core.crypto.slots import Slot, SlotKind
from timekeep.core.crypto.subkeys import RepositoryKey, new_repository_key
from timekeep.core.errors import (
    KeySlotDamaged,
    NoKeySlot,
    UsageError,
    WrongKey,
    WrongPassphrase,
    WrongRecoveryKey,
)
from timekeep.core.storage import atomic

KEYS_FOLDER = "keys"
KEYRING_SECRET_BYTES = 32


@dataclass(frozen=True)
class Created:
    """A new repository key. `recovery_text` exists only here: show it to the person once."""

    key: RepositoryKey
    recovery_text: str
    passphrase_slot: str
    recovery_slot: str


@dataclass(frozen=True)
class Unlocked:
    """The key a secret opened, the slot that opened it, and damaged slots passed over on the way."""

    key: RepositoryKey
    slot_id: str
    kind: SlotKind
    skipped: tuple[str, ...] = ()


def keys_dir(root: Path) -> Path:
    return slot_store.keys_dir(root)


def create(root: Path, repository_id: str, passphrase: str, argon2: Argon2Params | None = None) -> Created:
    """A new random repository key with a passphrase slot and a recovery slot."""
    check_passphrase(passphrase)
    slot_store.make_folder(root)
    key = new_repository_key()
    passphrase_slot = add_passphrase(root, repository_id, key, passphrase, argon2)
    recovery_slot, text = add_recovery_key(root, repository_id, key)
    return Created(key, text, passphrase_slot, recovery_slot)


def add_passphrase(root: Path, repository_id: str, key: RepositoryKey, passphrase: str,
                   argon2: Argon2Params | None = None) -> str:
    """A new passphrase slot for `key` (Argon2id tuned here unless `argon2` is given); its slot id."""
    check_passphrase(passphrase)
    params, salt = argon2 or kdf.tune(), kdf.new_salt()
    spec = {"algorithm": "argon2id", "salt": slots.b64_text(salt), "version": kdf.ARGON2_VERSION,
            "memory_kib": params.memory_kib, "iterations": params.iterations, "lanes": params.lanes}
    return _publish(root, repository_id, SlotKind.PASSPHRASE, spec, kdf.passphrase_kek(passphrase, salt, params), key)


def add_recovery_key(root: Path, repository_id: str, key: RepositoryKey) -> tuple[str, str]:
    """A new recovery slot for `key`: its slot id and the recovery key's text, shown to the person once."""
    secret, salt = recovery.new_recovery_secret(), kdf.new_salt()
    spec = {"algorithm": "hkdf-sha256", "salt": slots.b64_text(salt)}
    slot_id = _publish(root, repository_id, SlotKind.RECOVERY, spec, kdf.recovery_kek(secret, salt), key)
    return slot_id, recovery.encode(secret)


def add_keyring_slot(root: Path, repository_id: str, key: RepositoryKey) -> tuple[str, bytes]:
    """A new keyring slot for `key`: its slot id and its secret (32 random bytes), for the keyring alone."""
    secret, salt = os.urandom(KEYRING_SECRET_BYTES), kdf.new_salt()
    spec = {"algorithm": "hkdf-sha256", "salt": slots.b64_text(salt)}
    return _publish(root, repository_id, SlotKind.KEYRING, spec, kdf.keyring_kek(secret, salt), key), secret


def unlock_with_keyring_secret(root: Path, repository_id: str, secret: bytes,
                               key_check: str | None = None) -> Unlocked:
    """The repository key from a keyring slot's secret: one HKDF per keyring slot, no Argon2."""
    return _try_slots(root, repository_id, SlotKind.KEYRING, lambda slot: kdf.keyring_kek(secret, slot.salt),
                      key_check)


def unlock(root: Path, repository_id: str, secret: str, key_check: str | None = None) -> Unlocked:
    """The repository key from a passphrase or a recovery key, whichever `secret` is: text shaped as a
    recovery key is read as one (a typo in it is caught by its checksum, before any derivation)."""
    if recovery.looks_like_recovery_key(secret):
        return unlock_with_recovery_key(root, repository_id, secret, key_check)
    return unlock_with_passphrase(root, repository_id, secret, key_check)


def unlock_with_passphrase(root: Path, repository_id: str, passphrase: str,
                           key_check: str | None = None) -> Unlocked:
    def kek(slot: Slot) -> bytes:
        return kdf.passphrase_kek(passphrase, slot.salt, slot.argon2)

    return _try_slots(root, repository_id, SlotKind.PASSPHRASE, kek, key_check)


def unlock_with_recovery_key(root: Path, repository_id: str, text: str, key_check: str | None = None) -> Unlocked:
    secret = recovery.decode(text)
    return _try_slots(root, repository_id, SlotKind.RECOVERY, lambda slot: kdf.recovery_kek(secret, slot.salt),
                      key_check)


def change_passphrase(root: Path, repository_id: str, old: str, new: str, argon2: Argon2Params | None = None,
                      key_check: str | None = None) -> str:
    """Wrap the key under `new` and then remove the slot `old` opened (every passphrase slot, when `old` is
    the recovery key: the passphrase was lost). No data is rewritten. The new slot's id."""
    return rewrap(root, repository_id, unlock(root, repository_id, old, key_check), new, argon2)


def rewrap(root: Path, repository_id: str, opened: Unlocked, new: str, argon2: Argon2Params | None = None) -> str:
    """change_passphrase once the old secret has opened the key: the new slot first, then the old ones go."""
    new_slot = add_passphrase(root, repository_id, opened.key, new, argon2)
    if opened.kind == SlotKind.PASSPHRASE:
        remove_slot(root, opened.slot_id)
    else:
        for slot_id, kind in list_slots(root, repository_id):
            if kind == SlotKind.PASSPHRASE and slot_id != new_slot:
                remove_slot(root, slot_id)
    return new_slot


def export_slot(root: Path, slot_id: str, destination: Path) -> None:
    """Copy one slot file to `destination` (kept elsewhere; it opens only with its secret), private from its
    first byte. Never replaces a file."""
    data = slot_store.slot_bytes(root, slot_id) if slots.is_slot_id(slot_id) else None
    if data is None:
        raise UsageError(f"There is no key slot {slot_id} in {keys_dir(root)}.")
    try:
        fd = atomic.create_private(destination)
    except FileExistsError:
        raise UsageError(f"{destination} already exists: choose another name.") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def list_slots(root: Path, repository_id: str) -> list[tuple[str, SlotKind]]:
    """Every readable slot (its id and kind); damaged ones are left out."""
    return [(slot.slot_id, slot.kind) for slot in _read_all(root, repository_id)[0]]


def readable_slots(root: Path, repository_id: str) -> list[Slot]:
    """Every slot that reads as one of this repository's (not yet opened); damaged ones are left out."""
    return _read_all(root, repository_id)[0]


def put_slot(root: Path, slot: Slot) -> None:
    """Write a slot read elsewhere (an export) back under its own id; never replaces a file."""
    slot_store.write_new(root, slot.slot_id, slots.encode(slot.fields))


def remove_slot(root: Path, slot_id: str, missing_ok: bool = False) -> None:
    slot_store.remove(root, slot_id, missing_ok)


def check_passphrase(passphrase: str) -> None:
    if not passphrase:
        raise UsageError("An empty passphrase protects nothing: choose one.")
    if recovery.looks_like_recovery_key(passphrase):
        raise UsageError("That passphrase is shaped like a recovery key: choose another.")


def _publish(root: Path, repository_id: str, kind: SlotKind, spec: Mapping[str, object], kek: bytes,
             key: RepositoryKey) -> str:
    slot_id = os.urandom(16).hex()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = slots.build(repository_id, slot_id, kind, dict(spec), kek, key.master, key.check(), created)
    slot_store.write_new(root, slot_id, slots.encode(fields))
    return slot_id


def _slot_paths(root: Path) -> list[Path]:
    return slot_store.slot_paths(root)


def _try_slots(root: Path, repository_id: str, kind: SlotKind, kek_of: Callable[[Slot], bytes],
               key_check: str | None) -> Unlocked:
    readable, damaged = _read_all(root, repository_id)
    candidates = [slot for slot in readable if slot.kind == kind]
    refused: KeySlotDamaged | None = None
    for slot in candidates:
        master = slots.unwrap(slot, kek_of(slot))
        if master is None:
            continue
        key = RepositoryKey(master)
        if key.check() != slot.key_check or (key_check is not None and key.check() != key_check):
            refused = KeySlotDamaged(f"Key slot {slot.path} holds a key that is not this repository's: refused.")
            damaged.append(str(refused))
            continue
        return Unlocked(key, slot.slot_id, kind, tuple(damaged))
    raise refused or _failure(root, kind, len(candidates), damaged)


def _read_all(root: Path, repository_id: str) -> tuple[list[Slot], list[str]]:
    """Every slot that reads as one, and why each other one does not (shape only: no key derived yet)."""
    readable, damaged = [], []
    for path in _slot_paths(root):
        try:
            readable.append(slot_store.read_slot(root, path, repository_id))
        except KeySlotDamaged as err:
            damaged.append(str(err))
    return readable, damaged


def _import_hint(root: Path) -> str:
    """The way back when the slots are gone or unreadable: the copy `key export` wrote."""
    where = shlex.quote(str(root))
    return f"A copy saved by `timekeep key export` puts them back: timekeep key import FILE --repo {where}"


def _failure(root: Path, kind: SlotKind, tried: int, damaged: list[str]) -> Exception:
    if not tried and damaged:
        first = damaged[0] if len(damaged) == 1 else f"{damaged[0]} ({len(damaged) - 1} more damaged)"
        return KeySlotDamaged(f"{first} {_import_hint(root)}")
    if not tried and not _slot_paths(root):  # the way back from an empty or unreadable keys/ folder
        return NoKeySlot(f"{keys_dir(root)} holds no key slot that can be read, so nothing unlocks this "
                         f"repository. {_import_hint(root)}")
    if not tried:
        return NoKeySlot(f"{keys_dir(root)} holds no {kind.value} key slot: this repository cannot be unlocked so.")
    error = {SlotKind.PASSPHRASE: WrongPassphrase, SlotKind.RECOVERY: WrongRecoveryKey}.get(kind, WrongKey)
    what = {SlotKind.PASSPHRASE: "passphrase", SlotKind.RECOVERY: "recovery key"}.get(kind, "keyring secret")
    note = f" ({len(damaged)} damaged key slot(s) could not be tried: {damaged[0]})" if damaged else ""
    return error(f"Wrong {what}: it opens no key slot of this repository.{note}")

