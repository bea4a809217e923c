"""The passphrase kept in the system keyring (Secret Service through `keyring`), by repository id.

Only stored once the person allowed it; the agent and the window then unlock without asking. A keyring
that is missing or locked is never fatal to unlocking: lookup then finds nothing and the caller asks.

Beside the passphrase the keyring keeps a random secret that opens a keyring slot of its own on the drive
(FORMAT.md, "Key slots"): unlocking from the keyring then costs one HKDF instead of Argon2's half second.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from timekeep.core.errors import KeyringUnavailable

if TYPE_CHECKING:  # keyring loads when first asked: importing it costs every command a twentieth of a second
    from keyring.backend import KeyringBackend

SERVICE = "timekeep"
SLOT_SECRET_BYTES = 32


class Keychain:
    """One keyring backend (the system's unless given), holding one passphrase per repository id, and the
    secret of this computer's keyring slot beside it."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> KeyringBackend:
        from keyring.core import get_keyring

        return self._backend or get_keyring()

    def store(self, repository_id: str, passphrase: str) -> None:
        self._set(_account(repository_id), passphrase, "passphrase")

    def lookup(self, repository_id: str) -> str | None:
        """The passphrase kept for this repository, or None (none kept, or no keyring to ask)."""
        return self._get(_account(repository_id))

    def forget(self, repository_id: str) -> bool:
        """Remove the kept passphrase; False when there was none."""
        return self._delete(_account(repository_id), "passphrase")

    def store_slot_secret(self, repository_id: str, secret: bytes) -> None:
        self._set(_slot_account(repository_id), base64.b64encode(secret).decode("ascii"), "keyring slot's secret")

    def lookup_slot_secret(self, repository_id: str) -> bytes | None:
        """The keyring slot's secret kept for this repository, or None (none kept, no keyring, or malformed)."""
        text = self._get(_slot_account(repository_id))
        try:
            secret = base64.b64decode(text.encode("ascii"), validate=True) if text else None
        except (ValueError, UnicodeEncodeError):
            return None
        return secret if secret and len(secret) == SLOT_SECRET_BYTES else None

    def forget_slot_secret(self, repository_id: str) -> bool:
        return self._delete(_slot_account(repository_id), "keyring slot's secret")

    def _set(self, account: str, value: str, what: str) -> None:
        try:
            self.backend.set_password(SERVICE, account, value)
        except _failures() as err:
            raise KeyringUnavailable(f"The system keyring did not keep the {what}: {_why(err)}.") from None

    def _get(self, account: str) -> str | None:
        try:
            return self.backend.get_password(SERVICE, account)
        except _failures():
            return None

    def _delete(self, account: str, what: str) -> bool:
        from keyring.errors import PasswordDeleteError

        try:
            self.backend.delete_password(SERVICE, account)
        except PasswordDeleteError:
            return False
        except _failures() as err:
            raise KeyringUnavailable(f"The system keyring could not forget the {what}: {_why(err)}.") from None
        return True


def _failures() -> tuple[type[Exception], ...]:
    """What a keyring call may raise when the keyring fails: keyring's own errors, and what its Secret Service
    backend lets through from the layers below it (secretstorage's, a D-Bus error reply, a lost connection)."""
    from keyring.errors import KeyringError

    found: list[type[Exception]] = [KeyringError, OSError]
    try:
        from jeepney.wrappers import DBusErrorResponse
        from secretstorage.exceptions import SecretStorageException
    except ImportError:  # no Secret Service stack on this system
        return tuple(found)
    return (*found, SecretStorageException, DBusErrorResponse)


def _account(repository_id: str) -> str:
    return f"repository {repository_id}"


def _slot_account(repository_id: str) -> str:
    return f"repository {repository_id} keyring slot"


def _why(err: Exception) -> str:
    return str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
