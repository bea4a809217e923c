"""Living with an encrypted repository's key, for the door (timekeep.core.api re-exports every function here):
its slots, passphrase, recovery keys, export and the keyring. `secret` is given when the caller holds it (the
window), else the usual sources are asked. A module of its own so that the key slots' code loads only when one
of these is called: the commands that open a repository never need it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from timekeep.core import key_export, rekeying
from timekeep.core.crypto.kdf import Argon2Params
from timekeep.core.types import KeySlotInfo, PassphraseChange


def key_slots(path: str | Path) -> list[KeySlotInfo]:
    return rekeying.key_slots(path)


def change_passphrase(path: str | Path, new_passphrase: Callable[[], str], secret: str | None = None,
                      passphrase_file: Path | None = None, interactive: bool = True,
                      argon2: Argon2Params | None = None) -> PassphraseChange:
    """Re-wrap the key under a new passphrase (asked only once the current secret opened it); no data is
    rewritten. A passphrase kept in the system keyring is replaced by the new one: what happened there."""
    source = rekeying.secrets(secret, passphrase_file, interactive)
    return rekeying.change_passphrase(path, new_passphrase, source, argon2)


def add_recovery_key(path: str | Path, secret: str | None = None, passphrase_file: Path | None = None,
                     interactive: bool = True) -> str:
    """A new recovery key (its text, to be shown once)."""
    return rekeying.add_recovery_key(path, rekeying.secrets(secret, passphrase_file, interactive))


def remove_key_slot(path: str | Path, slot_id: str, force: bool = False, secret: str | None = None,
                    passphrase_file: Path | None = None, interactive: bool = True) -> KeySlotInfo:
    """Remove a key slot; refuses the last one, and without `force` the last passphrase slot and the slot of
    the secret given."""
    return rekeying.remove_slot(path, slot_id, rekeying.secrets(secret, passphrase_file, interactive), force)


def export_keys(path: str | Path, destination: Path) -> int:
    """Write the key slots (wrapped keys only) to a new private file; how many."""
    return key_export.export_keys(path, destination)


def import_keys(path: str | Path, export: Path, secret: str | None = None, passphrase_file: Path | None = None,
                interactive: bool = True) -> int:
    """Put back slots from `export_keys`' file once the secret opens one of them; how many were missing."""
    return key_export.import_keys(path, export, rekeying.secrets(secret, passphrase_file, interactive))


def remember_passphrase(path: str | Path, secret: str | None = None, passphrase_file: Path | None = None,
                        interactive: bool = True) -> None:
    """Keep the passphrase in the system keyring once it opened the key: `key remember` and `unlock
    --remember`. A recovery key is refused (UsageError); KeyringUnavailable says why it could not be kept."""
    rekeying.remember(path, rekeying.secrets(secret, passphrase_file, interactive, keyring=False))


def forget_passphrase(path: str | Path) -> bool:
    """Remove the passphrase kept in the system keyring for this repository; False when none was kept."""
    return rekeying.forget(path)


def keep_new_passphrase(path: str | Path, passphrase: str) -> None:
    """Keep a passphrase known to open the repository (it was just set, or just unlocked with) in the system
    keyring, without deriving its key again; a recovery key is refused (UsageError), KeyringUnavailable says
    why it could not be kept."""
    rekeying.keep(path, passphrase)
