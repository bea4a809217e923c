"""The passphrase kept in the system keyring (Secret Service through `keyring`), by repository id.

Only stored once the person allowed it; the agent and the window then unlock without asking. A keyring
that is missing or locked is never fatal to unlocking: lookup then finds nothing and the caller asks.
"""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.core import get_keyring
from keyring.errors import KeyringError, PasswordDeleteError

from timekeep.core.errors import KeyringUnavailable

SERVICE = "timekeep"


class Keychain:
    """One keyring backend (the system's unless given), holding one passphrase per repository id."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> KeyringBackend:
        return self._backend or get_keyring()

    def store(self, repository_id: str, passphrase: str) -> None:
        try:
            self.backend.set_password(SERVICE, _account(repository_id), passphrase)
        except KeyringError as err:
            raise KeyringUnavailable(f"The system keyring did not keep the passphrase: {_why(err)}.") from None

    def lookup(self, repository_id: str) -> str | None:
        """The passphrase kept for this repository, or None (none kept, or no keyring to ask)."""
        try:
            return self.backend.get_password(SERVICE, _account(repository_id))
        except KeyringError:
            return None

    def forget(self, repository_id: str) -> bool:
        """Remove the kept passphrase; False when there was none."""
        try:
            self.backend.delete_password(SERVICE, _account(repository_id))
        except PasswordDeleteError:
            return False
        except KeyringError as err:
            raise KeyringUnavailable(f"The system keyring could not forget the passphrase: {_why(err)}.") from None
        return True


def _account(repository_id: str) -> str:
    return f"repository {repository_id}"


def _why(err: Exception) -> str:
    return str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
