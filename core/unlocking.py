"""Making and unlocking an encrypted repository's keys: where the passphrase comes from, and the unlocked key
kept for this process, so the repository's layout seals and opens what is on the drive.

Unlocking comes before anything else reads the drive; a wrong passphrase is a WrongPassphrase (exit 2) and
nothing is read or decrypted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from timekeep.core.crypto.keychain import Keychain
from timekeep.core.crypto.unlock import PassphraseSource, TerminalPrompt
from timekeep.core.errors import PassphraseUnavailable
from timekeep.core.storage import layout as repo_layout
from timekeep.core.storage.location import locate

if TYPE_CHECKING:  # the keys' code loads when a repository is encrypted: opening an unencrypted one needs none
    from timekeep.core.crypto.kdf import Argon2Params
    from timekeep.core.crypto.sealing import Sealing


def passphrase_source(passphrase_file: Path | None = None, environ: Mapping[str, str] | None = None,
                      interactive: bool = True) -> PassphraseSource:
    """The environment, then `passphrase_file`, then the keyring, then (when `interactive`) the terminal."""
    return PassphraseSource(os.environ if environ is None else environ, passphrase_file, Keychain(),
                            TerminalPrompt() if interactive else None)


def new_passphrase(passphrase_file: Path | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The passphrase of a repository being made: given, or typed twice alike on the terminal."""
    source = passphrase_source(passphrase_file, environ)
    return PassphraseSource(source.environ, source.passphrase_file, None, source.prompt).for_create()


def key_maker(root: Path, passphrase: str, argon2: Argon2Params | None,
              recovery: list[str]) -> Callable[[str], Sealing]:
    """What makes a new repository's key slots once its id is known; the recovery key lands in `recovery`."""
    from timekeep.core.crypto import keys, sealing

    def make(repository_id: str) -> Sealing:
        created = keys.create(root, repository_id, passphrase, argon2)
        recovery.append(created.recovery_text)
        return sealing.remember(repository_id, created.key)

    return make


def unlock(path: str | Path, source: PassphraseSource) -> bool:
    """Unlock the repository at `path` for this process when it is encrypted and not unlocked yet; False for
    an unencrypted one."""
    root = locate(path)
    config = repo_layout.load_config(root)
    if not config.encrypted:
        return False
    if not holds_key(config):
        from timekeep.core.crypto import sealing

        opened = source.open(root, config.repository_id, config.key_check)
        sealing.remember(config.repository_id, opened.unlocked.key)
    return True


def holds_key(config: repo_layout.RepoConfig) -> bool:
    """Whether this process holds the key of the repository `config` describes (and not an older one)."""
    from timekeep.core.crypto import sealing

    kept = sealing.unlocked(config.repository_id)
    return kept is not None and kept.key.check() == config.key_check


def given_secret(passphrase_file: Path | None = None, environ: Mapping[str, str] | None = None) -> str:
    """An existing repository's passphrase or recovery key for another process (the agent): given, or typed
    once on the terminal; never the keyring's, and not checked here."""
    source = passphrase_source(passphrase_file, environ)
    given = source.given()
    if given:
        return given[0]
    secret = TerminalPrompt().ask("Passphrase (or recovery key): ")
    if not secret:
        raise PassphraseUnavailable("No passphrase was typed.")
    return secret


def unlock_quietly(path: str | Path) -> bool:
    """Unlock from what needs no person (the environment, the keyring); False when they give nothing."""
    try:
        unlock(path, passphrase_source(interactive=False))
    except PassphraseUnavailable:
        return False
    return True


def unlock_with(path: str | Path, secret: str) -> bool:
    """Unlock with a passphrase or recovery key a person typed (WrongKey when it opens no key slot); True
    when it was a passphrase, the one secret worth keeping in the keyring."""
    from timekeep.core.crypto import keys, recovery, sealing

    root = locate(path)
    config = repo_layout.load_config(root)
    if config.encrypted:
        unlocked = keys.unlock(root, config.repository_id, secret, config.key_check)
        sealing.remember(config.repository_id, unlocked.key)
    return not recovery.looks_like_recovery_key(secret)
