"""The passphrase kept in the system keyring: stored by repository id, read back by another process, forgotten;
a stale entry falls through to the prompt, and no keyring at all is never fatal to unlocking (issue 12).

Backend: a real Secret Service, GNOME Keyring's daemon (Debian's gnome-keyring and dbus), started in a D-Bus
session of the test's own (`dbus-run-session`) with a fresh login keyring unlocked by a password on stdin,
reached through keyring's SecretService backend. keyring's fail backend stands in for "no keyring".
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from keyring.backends.fail import Keyring as NoKeyring
from secretstorage.exceptions import LockedException

from timekeep.core.crypto import keys
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.crypto.keychain import Keychain
from timekeep.core.crypto.unlock import PassphraseSource, Source
from timekeep.core.errors import KeyringUnavailable

REPO_ID = "5ec7e75ec7e75ec7e75ec7e75ec7e700"
CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from keyring.backends.SecretService import Keyring
    from timekeep.core.crypto import keys
    from timekeep.core.crypto.kdf import TEST_PARAMS
    from timekeep.core.crypto.keychain import Keychain
    from timekeep.core.crypto.unlock import PassphraseSource

    class Person:
        def ask(self, question):
            return "new words"

    step, root, rid = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    chain, out = Keychain(Keyring()), {}
    out["backend"] = type(chain.backend).__module__
    if step == "store":
        out["before"] = chain.lookup(rid)
        chain.store(rid, "correct horse")
    else:
        opened = PassphraseSource({}, keychain=chain).open(root, rid)
        out["kept_source"] = opened.source.value
        keys.change_passphrase(root, rid, "correct horse", "new words", TEST_PARAMS)  # elsewhere, say
        opened = PassphraseSource({}, keychain=chain, prompt=Person()).open(root, rid)
        out["stale_source"] = opened.source.value
        chain.store(rid, opened.secret)
        out["kept_now"] = chain.lookup(rid)
        out["other_repository"] = chain.lookup("f" * 32)
        out["forgot"], out["forgot_again"], out["after"] = chain.forget(rid), chain.forget(rid), chain.lookup(rid)
    print(json.dumps(out))
""")
REAPER = textwrap.dedent("""
    import ctypes, os, subprocess, sys
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the keyring daemon's zombie comes here
    code = subprocess.call(sys.argv[1:])
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    sys.exit(code)
""")
SESSION = 'echo -n login-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null && "$@"'


def in_a_secret_service_session(home: Path, *steps: list[str]) -> list[dict[str, object]]:
    """Run each step as a process of its own inside one D-Bus session with GNOME Keyring unlocked; the
    daemon it forks is reaped by a process of ours, not left to init."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_RUNTIME_DIR=str(home / "run"))
    (home / "run").mkdir(mode=0o700, parents=True)
    commands = " && ".join(shlex.join([sys.executable, "-c", CHILD, *step]) for step in steps)
    session = ["dbus-run-session", "--", "bash", "-c", SESSION.replace('"$@"', commands)]
    done = subprocess.run([sys.executable, "-c", REAPER, *session], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.skipif(not (shutil.which("gnome-keyring-daemon") and shutil.which("dbus-run-session")),
                    reason="needs Debian's gnome-keyring and dbus (apt-get install gnome-keyring dbus)")
def test_the_passphrase_kept_in_the_secret_service_unlocks_another_process(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    made = keys.create(root, REPO_ID, "correct horse", TEST_PARAMS)
    stored, opened = in_a_secret_service_session(tmp_path / "home", ["store", str(root), REPO_ID],
                                                 ["open", str(root), REPO_ID])
    assert stored == {"backend": "keyring.backends.SecretService", "before": None}
    assert opened == {"backend": "keyring.backends.SecretService", "kept_source": "keyring",
                      "stale_source": "prompt", "kept_now": "new words", "other_repository": None,
                      "forgot": True, "forgot_again": False, "after": None}
    assert keys.unlock(root, REPO_ID, "new words").key == made.key
    keyrings = list((tmp_path / "home" / "data" / "keyrings").iterdir())
    assert keyrings and all(b"new words" not in p.read_bytes() for p in keyrings)  # kept encrypted, then gone


class BrokenSecretService(NoKeyring):
    """A Secret Service whose daemon fails below keyring: secretstorage's and the socket's errors, which keyring's
    backend lets through unwrapped."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


@pytest.mark.parametrize("keyring", [NoKeyring(), BrokenSecretService(LockedException("Item is locked!")),
                                     BrokenSecretService(ConnectionResetError("connection reset"))],
                         ids=["no keyring", "locked", "connection lost"])
def test_without_a_keyring_unlocking_asks_and_storing_says_why_in_one_line(tmp_path: Path, keyring: NoKeyring) -> None:
    """No keyring at all, or one failing below the keyring library: never a traceback."""
    made = keys.create(tmp_path, REPO_ID, "correct horse", TEST_PARAMS)
    chain = Keychain(keyring)
    assert chain.lookup(REPO_ID) is None and chain.lookup_slot_secret(REPO_ID) is None

    class Person:
        def ask(self, question: str) -> str:
            return "correct horse"

    opened = PassphraseSource({}, keychain=chain, prompt=Person()).open(tmp_path, REPO_ID)
    assert opened.unlocked.key == made.key and opened.source == Source.PROMPT
    with pytest.raises(KeyringUnavailable, match="did not keep the passphrase") as caught:
        chain.store(REPO_ID, "correct horse")
    assert "\n" not in str(caught.value)
    if isinstance(keyring, BrokenSecretService):
        assert str(keyring.error).split("!")[0] in str(caught.value)
    with pytest.raises(KeyringUnavailable, match="could not forget"):
        chain.forget(REPO_ID)
