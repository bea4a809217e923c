"""Where the passphrase comes from: TIMEKEEP_PASSPHRASE, a passphrase file, the system keyring, a terminal.

Given sources win (the environment, then `--passphrase-file`), then the keyring, then a prompt on the
terminal that never echoes (asked twice when a repository is created). A keyring entry that no longer opens
the repository (the passphrase was changed elsewhere) falls through to the prompt rather than failing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from getpass import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from timekeep.core.crypto.keychain import Keychain
from timekeep.core.crypto.small_files import read_at_most
from timekeep.core.errors import (
    KeySlotDamaged,
    NoKeySlot,
    PassphraseUnavailable,
    UsageError,
    WrongKey,
    WrongPassphrase,
)

if TYPE_CHECKING:  # the key slots' code (and Argon2's) loads when a key is opened: an unencrypted repository never
    from timekeep.core.crypto.keys import Unlocked

ENV_VAR = "TIMEKEEP_PASSPHRASE"
MAX_FILE_BYTES = 64 * 1024
ATTEMPTS = 3
NO_SOURCE = (f"No passphrase: set {ENV_VAR}, give --passphrase-file, keep it in the keyring, "
             "or run in a terminal.")


class Source(StrEnum):
    ENVIRONMENT = "environment"
    FILE = "file"
    KEYRING = "keyring"
    PROMPT = "prompt"


class Prompt(Protocol):
    def ask(self, question: str) -> str: ...


class TerminalPrompt:
    """Asks on the controlling terminal without echo (getpass); refuses where there is no terminal,
    rather than read a passphrase echoed from a pipe."""

    def ask(self, question: str) -> str:
        if not _has_terminal():
            raise PassphraseUnavailable(NO_SOURCE)
        try:
            return getpass(question)
        except EOFError:
            raise PassphraseUnavailable("No passphrase was typed.") from None


@dataclass(frozen=True)
class Opened:
    """The key, and the secret that opened it and from where: a caller offers to keep a prompted one."""

    unlocked: Unlocked
    secret: str
    source: Source


@dataclass(frozen=True)
class PassphraseSource:
    environ: Mapping[str, str]
    passphrase_file: Path | None = None
    keychain: Keychain | None = None
    prompt: Prompt | None = None

    def given(self) -> tuple[str, Source] | None:
        """The passphrase the environment or a file gives, if either does."""
        if self.environ.get(ENV_VAR):
            return self.environ[ENV_VAR], Source.ENVIRONMENT
        if self.passphrase_file is not None:
            return read_passphrase_file(self.passphrase_file), Source.FILE
        return None

    def for_create(self) -> str:
        """A new passphrase: a given one, or typed twice alike on the terminal."""
        from timekeep.core.crypto import keys

        given = self.given()
        if given:
            keys.check_passphrase(given[0])
            return given[0]
        if self.prompt is None:
            raise PassphraseUnavailable(NO_SOURCE)
        for _ in range(ATTEMPTS):
            first = self.prompt.ask("New passphrase: ")
            if not first:
                continue
            if self.prompt.ask("The same passphrase again: ") == first:
                keys.check_passphrase(first)
                return first
        raise UsageError("The passphrases typed did not match (or were empty): nothing was created.")

    def open(self, root: Path, repository_id: str, key_check: str | None = None, keyring_slot: bool = True) -> Opened:
        """The repository key, from the first source that has a secret; a wrong given secret is final. A
        passphrase kept in the keyring is opened through this computer's keyring slot when there is one (no
        Argon2: microseconds); `keyring_slot` False always derives from the passphrase, for a caller that
        must know which passphrase slot it opens."""
        from timekeep.core.crypto import keys

        given = self.given()
        if given:
            return Opened(keys.unlock(root, repository_id, given[0], key_check), *given)
        kept = self.keychain.lookup(repository_id) if self.keychain else None
        if kept:
            fast = self._keyring_slot(root, repository_id, key_check) if keyring_slot else None
            if fast is not None:
                return Opened(fast, kept, Source.KEYRING)
            try:
                return Opened(keys.unlock(root, repository_id, kept, key_check), kept, Source.KEYRING)
            except WrongKey:
                pass  # changed elsewhere since it was kept: ask
        return self._ask(root, repository_id, key_check)

    def _keyring_slot(self, root: Path, repository_id: str, key_check: str | None) -> Unlocked | None:
        """The key through the keyring slot whose secret the keyring keeps, or None: no secret kept, or its
        slot gone from the drive (removed elsewhere, say), when the kept passphrase still opens."""
        from timekeep.core.crypto import keys

        secret = self.keychain.lookup_slot_secret(repository_id) if self.keychain else None
        if secret is None:
            return None
        try:
            return keys.unlock_with_keyring_secret(root, repository_id, secret, key_check)
        except (WrongKey, KeySlotDamaged, NoKeySlot):
            return None

    def _ask(self, root: Path, repository_id: str, key_check: str | None) -> Opened:
        from timekeep.core.crypto import keys

        if self.prompt is None:
            raise PassphraseUnavailable(NO_SOURCE)
        error: WrongKey = WrongPassphrase("No passphrase was typed.")
        for _ in range(ATTEMPTS):
            secret = self.prompt.ask("Passphrase (or recovery key): ")
            if not secret:
                continue
            try:
                return Opened(keys.unlock(root, repository_id, secret, key_check), secret, Source.PROMPT)
            except WrongKey as err:
                error = err
        raise error


def read_passphrase_file(path: Path) -> str:
    """The passphrase in `path`: its text, less one trailing line end."""
    try:
        raw = read_at_most(path, MAX_FILE_BYTES)
    except OSError as err:
        raise UsageError(f"Passphrase file {path} cannot be read: {err.strerror}.") from None
    if raw is None:
        raise UsageError(f"Passphrase file {path} is larger than any passphrase: is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"Passphrase file {path} is not UTF-8 text.") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise UsageError(f"Passphrase file {path} is empty.")
    return text


def _has_terminal() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return sys.stdin is not None and sys.stdin.isatty()
    return True
