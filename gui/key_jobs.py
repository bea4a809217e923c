"""The engine calls about an encrypted repository's key that the window makes, each run in a worker.

Making a repository (the key derivation takes about half a second), unlocking one from the keyring or
with what a person typed, keeping the passphrase in the keyring, changing it, adding a recovery key, and
saving the recovery key to a file.
A wrong secret comes back as a `Refused` value, never as an error, so the dialog can say it in place.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from timekeep.core.api import (
    Argon2Params,
    add_recovery_key,
    change_passphrase,
    init_repository,
    is_encrypted,
    is_repository,
    keep_new_passphrase,
    probe_location,
    unlock_quietly,
    unlock_with,
)
from timekeep.core.errors import KeyringUnavailable, RecoveryKeyTypo, WrongKey, WrongRecoveryKey
from timekeep.gui.location import Location, key_of

_held: dict[str, str] = {}  # repository path -> a secret typed in this window and kept out of the keyring
_held_lock = threading.Lock()
KEYRING_ABSENT = ("There is no keyring on this computer to keep the passphrase in: backups will ask for it "
                  "after a restart.")


@dataclass(frozen=True)
class Made:
    """A new repository: its recovery key (None when unencrypted) and what the keyring said, if anything."""

    path: Location
    recovery_key: str | None
    keyring_note: str = ""


@dataclass(frozen=True)
class Refused:
    """The secret typed opens nothing: the sentence to show beside the field."""

    message: str


@dataclass(frozen=True)
class Unlocked:
    keyring_note: str = ""


@dataclass(frozen=True)
class Changed:
    """The passphrase was changed: what the keyring said about it ("" when it held none)."""

    keyring_note: str = ""


def make_repository(path: Location, passphrase: str | None, keep: bool, argon2: Argon2Params | None = None) -> Made:
    """A new repository at `path`: encrypted under `passphrase`, or today's unencrypted one when None."""
    if passphrase is None:
        init_repository(path)
        return Made(path, None)
    recovery = init_repository(path, encryption="repokey", passphrase=passphrase, argon2=argon2)
    note = _keep(path, passphrase) if keep else ""
    if note or not keep:
        hold_for_agent(path, passphrase)
    return Made(path, recovery, note)


def is_empty(path: Location) -> bool:
    """Nothing there yet, so a repository is to be made: a missing or empty folder, or an empty prefix of a
    bucket (asked of its server)."""
    if isinstance(path, str):
        return probe_location(path) == "empty"
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def needs_unlocking(path: Location) -> bool:
    """True for an encrypted repository that neither the environment nor the keyring unlocks."""
    return is_repository(path) and is_encrypted(path) and not unlock_quietly(path)


def drive_state(path: Location) -> str:
    """"new" (nothing there yet: a repository is to be made), "locked" (encrypted, and the keyring does
    not open it) or "ready"."""
    if is_empty(path):
        return "new"
    return "locked" if needs_unlocking(path) else "ready"


def unlock_typed(path: Location, secret: str, keep: bool) -> Unlocked | Refused:
    """Unlock with what the person typed (a passphrase or the recovery key); keep a passphrase if allowed."""
    try:
        passphrase = unlock_with(path, secret)
    except (WrongKey, RecoveryKeyTypo) as wrong:
        return _refusal(wrong)
    note = _keep(path, secret) if keep and passphrase else ""
    if note or not (keep and passphrase):
        hold_for_agent(path, secret)  # not in the keyring: the agent hears it from the window instead
    return Unlocked(note)


def _refusal(wrong: WrongKey | RecoveryKeyTypo) -> Refused:
    if isinstance(wrong, RecoveryKeyTypo):
        return Refused(str(wrong))
    return Refused("Wrong recovery key" if isinstance(wrong, WrongRecoveryKey) else "Wrong passphrase")


def change_typed(path: Location, current: str, new: str, argon2: Argon2Params | None = None) -> Changed | Refused:
    """Change the passphrase, opened with what the person typed as the current one (passphrase or recovery
    key). The keyring keeps the new one if it kept the old; otherwise the window holds it for a locked agent,
    as it held the old."""
    try:
        change = change_passphrase(path, lambda: new, secret=current, interactive=False, argon2=argon2)
    except (WrongKey, RecoveryKeyTypo) as wrong:
        return _refusal(wrong)
    if not change.kept or held_secret(path) is not None:
        hold_for_agent(path, new)  # the agent's copy of the key is unchanged; a locked one needs the new words
    return Changed(change.note or "")


def recovery_key_typed(path: Location, secret: str) -> str | Refused:
    """A new recovery key (its text, shown once), once what the person typed opens the repository."""
    try:
        return add_recovery_key(path, secret=secret, interactive=False)
    except (WrongKey, RecoveryKeyTypo) as wrong:
        return _refusal(wrong)


def _keep(path: Location, passphrase: str) -> str:
    try:
        keep_new_passphrase(path, passphrase)  # known to open it: made or unlocked with it just now
    except KeyringUnavailable:
        return KEYRING_ABSENT
    return ""


def save_recovery_key(destination: Path, text: str, overwrite: bool) -> Path:
    """Write the recovery key to `destination`, readable by its owner alone; an existing file is replaced
    only when `overwrite` (the person said so), through a new file renamed over it."""
    body = f"Timekeep recovery key\n\n{text}\n".encode()
    temporary = destination.with_name(f".{destination.name}.partial") if overwrite else destination
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    if overwrite:
        os.replace(temporary, destination)
    return destination


def hold_for_agent(path: Location, secret: str) -> None:
    """Hold a secret the person typed but kept out of the keyring, for as long as the window runs: the agent
    cannot read it from the keyring, so it is handed over when the agent says this drive is locked
    (`protection.probe`). Only in this process's memory."""
    with _held_lock:
        _held[key_of(path)] = secret


def held_secret(path: Path | str) -> str | None:
    """The secret held for the repository at `path` by `hold_for_agent`, if any."""
    with _held_lock:
        return _held.get(key_of(path))
