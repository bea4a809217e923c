"""Living with an encrypted repository's key: change the passphrase, add a recovery key, list and remove key
slots, keep the passphrase in the system keyring or forget it there. No data is ever rewritten: only the
wrapped copies of the key under `keys/` change, each written whole before an old one goes.

Whatever could lock a person out is refused: the last slot always, and without `force` the last passphrase
slot and the slot of the secret that was just typed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from timekeep.core import unlocking
from timekeep.core.crypto import keys, recovery, sealing
from timekeep.core.crypto.kdf import Argon2Params
from timekeep.core.crypto.keychain import Keychain
from timekeep.core.crypto.slots import Slot, SlotKind
from timekeep.core.crypto.subkeys import RepositoryKey
from timekeep.core.crypto.unlock import ENV_VAR, Opened, PassphraseSource, Source
from timekeep.core.errors import KeyringUnavailable, KeySlotDamaged, NoKeySlot, UsageError, WrongKey
from timekeep.core.storage import layout as repo_layout
from timekeep.core.storage.layout import RepoConfig
from timekeep.core.storage.location import locate
from timekeep.core.types import KeySlotInfo, PassphraseChange

RECOVERY_NOT_KEPT = ("That is the recovery key: the keyring keeps the passphrase. Give the passphrase instead; "
                     "nothing was kept.")


def encrypted(path: str | Path) -> tuple[Path, RepoConfig]:
    """The repository's root and config; a UsageError (exit 2) when it is not encrypted and so has no key."""
    root = locate(path)
    config = repo_layout.load_config(root)
    if not config.encrypted:
        raise UsageError(f"{root} is not encrypted: it has no key to manage.")
    return root, config


def secrets(secret: str | None, passphrase_file: Path | None, interactive: bool,
            keyring: bool = True) -> PassphraseSource:
    """Where the current secret comes from: `secret` itself when the caller has it (the window), else the
    environment, the file, the keyring (unless `keyring` is False) and the terminal."""
    if secret is not None:
        return PassphraseSource({ENV_VAR: secret})
    source = unlocking.passphrase_source(passphrase_file, interactive=interactive)
    return source if keyring else PassphraseSource(source.environ, source.passphrase_file, None, source.prompt)


def open_key(path: str | Path, source: PassphraseSource) -> tuple[Path, RepoConfig, Opened]:
    root, config = encrypted(path)
    return root, config, source.open(root, config.repository_id, config.key_check, keyring_slot=False)


def key_slots(path: str | Path) -> list[KeySlotInfo]:
    """The readable key slots, oldest first (no secret needed: a slot shows only its kind and date)."""
    root, config = encrypted(path)
    return sorted((_info(slot) for slot in keys.readable_slots(root, config.repository_id)),
                  key=lambda info: (info.created, info.slot_id))


def change_passphrase(path: str | Path, new_passphrase: Callable[[], str], source: PassphraseSource,
                      argon2: Argon2Params | None = None) -> PassphraseChange:
    """Open with the current secret, then wrap the key under the passphrase `new_passphrase` gives (asked only
    once the current secret opened); `argon2` overrides the tuned cost. A passphrase kept in the keyring is
    replaced by the new one."""
    root, config, opened = open_key(path, source)
    new = new_passphrase()
    keys.rewrap(root, config.repository_id, opened.unlocked, new, argon2)
    return _replace_kept(config.repository_id, new, opened.source == Source.KEYRING)


def _replace_kept(repository_id: str, new: str, from_keyring: bool) -> PassphraseChange:
    chain = Keychain()
    if not from_keyring and chain.lookup(repository_id) is None:
        return PassphraseChange(False, None)
    try:
        chain.store(repository_id, new)
    except KeyringUnavailable as err:
        return PassphraseChange(False, f"{err} It still holds the old passphrase: run `timekeep key forget`.")
    return PassphraseChange(True, "The passphrase kept in the system keyring is now the new one.")


def add_recovery_key(path: str | Path, source: PassphraseSource) -> str:
    """A new recovery slot; the recovery key's text, to be shown once."""
    root, config, opened = open_key(path, source)
    return keys.add_recovery_key(root, config.repository_id, opened.unlocked.key)[1]


def remove_slot(path: str | Path, slot_id: str, source: PassphraseSource, force: bool = False) -> KeySlotInfo:
    """Remove one key slot after the current secret opened the key; refuses what would lock a person out."""
    root, config = encrypted(path)
    present = {slot.slot_id: slot for slot in keys.readable_slots(root, config.repository_id)}
    target = present.get(slot_id)
    if target is None:
        raise UsageError(f"There is no key slot {slot_id!r} in this repository: `timekeep key list` shows them.")
    if len(present) == 1:
        raise UsageError(f"Key slot {slot_id} is the only one left: without it nobody could open this repository.")
    opened = source.open(root, config.repository_id, config.key_check, keyring_slot=False)
    if not force:
        _refuse_lockout(target, opened, list(present.values()))
    keys.remove_slot(root, slot_id)
    return _info(target)


def _refuse_lockout(target: Slot, opened: Opened, present: list[Slot]) -> None:
    if target.slot_id == opened.unlocked.slot_id:
        raise UsageError(f"Key slot {target.slot_id} is the one the secret just given opens: removing it makes "
                         "that secret useless. Add --force if that is what you want.")
    passphrases = [slot for slot in present if slot.kind == SlotKind.PASSPHRASE]
    if target.kind == SlotKind.PASSPHRASE and len(passphrases) == 1:
        raise UsageError(f"Key slot {target.slot_id} is the last passphrase slot: only the recovery key would "
                         "open this repository. Add --force if that is what you want.")


def remember(path: str | Path, source: PassphraseSource) -> None:
    """Keep the passphrase in the system keyring once it has opened the key (`keep` refuses a recovery key)."""
    _, _, opened = open_key(path, source)
    keep(path, opened.secret, opened.unlocked.key)


def forget(path: str | Path) -> bool:
    """Remove the passphrase kept for this repository from the system keyring, with this computer's keyring
    slot and its secret; False when no passphrase was kept. A drive that is not there keeps the slot, which
    nothing opens once its secret is gone (`timekeep key remove` takes it away later)."""
    root, config = encrypted(path)
    chain = Keychain()
    secret = chain.lookup_slot_secret(config.repository_id)
    if secret is not None:
        _remove_keyring_slot(root, config.repository_id, secret)
        chain.forget_slot_secret(config.repository_id)
    return chain.forget(config.repository_id)


def _info(slot: Slot) -> KeySlotInfo:
    return KeySlotInfo(slot.slot_id, slot.kind.value, str(slot.fields["created"]))


def keep(path: str | Path, passphrase: str, key: RepositoryKey | None = None) -> None:
    """Keep a passphrase known to open the repository (just set, or just opened with) in the system keyring,
    and beside it the secret of a keyring slot for `key` (or the key this process holds; none without one).
    A recovery key is refused (UsageError): it is the way back when the computer and its keyring are lost,
    so it is kept apart from them."""
    root, config = encrypted(path)
    if recovery.looks_like_recovery_key(passphrase):
        raise UsageError(RECOVERY_NOT_KEPT)
    chain = Keychain()
    chain.store(config.repository_id, passphrase)
    held = sealing.unlocked(config.repository_id) if unlocking.holds_key(config) else None
    key = key or (held.key if held is not None else None)
    if key is not None:
        _renew_keyring_slot(root, config.repository_id, chain, key)


def _renew_keyring_slot(root: Path, repository_id: str, chain: Keychain, key: RepositoryKey) -> None:
    """A new keyring slot whose secret the keyring keeps beside the passphrase, so that unlocking from the
    keyring costs one HKDF instead of Argon2; then the slot of the secret it replaces goes. Where either
    cannot be written (a read-only drive, a keyring that refuses), the passphrase alone is kept, as before."""
    old = chain.lookup_slot_secret(repository_id)
    try:
        slot_id, secret = keys.add_keyring_slot(root, repository_id, key)
    except OSError:
        return
    try:
        chain.store_slot_secret(repository_id, secret)
    except KeyringUnavailable:
        with contextlib.suppress(OSError):
            keys.remove_slot(root, slot_id)
        return
    if old is not None:
        _remove_keyring_slot(root, repository_id, old)


def _remove_keyring_slot(root: Path, repository_id: str, secret: bytes) -> None:
    """Remove the keyring slot `secret` opens, if the drive still holds it."""
    try:
        opened = keys.unlock_with_keyring_secret(root, repository_id, secret)
    except (WrongKey, KeySlotDamaged, NoKeySlot):
        return
    with contextlib.suppress(OSError):
        keys.remove_slot(root, opened.slot_id)
