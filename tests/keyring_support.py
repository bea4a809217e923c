"""Keyrings for GUI tests, in this process: a real Secret Service, or none at all.

The Secret Service is GNOME Keyring's daemon (Debian's gnome-keyring) on a D-Bus session bus of the test's
own (Debian's dbus), with a fresh login keyring unlocked by a password on stdin, reached through keyring's
SecretService backend. "No keyring" is keyring's fail backend: storing says so, lookups find nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.fail import Keyring as NoKeyring

from tests.agent_support import wait_for
from tests.bus_support import BUS_CONFIG

HAVE_SECRET_SERVICE = bool(shutil.which("gnome-keyring-daemon") and shutil.which("dbus-daemon"))
needs_secret_service = pytest.mark.skipif(
    not HAVE_SECRET_SERVICE, reason="needs Debian's gnome-keyring and dbus (apt-get install gnome-keyring dbus)")


@contextmanager
def using(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """`backend` as keyring's own for the length of the block (the engine's Keychain asks keyring for it)."""
    before = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


@contextmanager
def no_keyring() -> Iterator[KeyringBackend]:
    with using(NoKeyring()) as backend:
        yield backend




@contextmanager
def secret_service(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyringBackend]:
    """A session bus and an unlocked GNOME Keyring of our own, both ended (by their ids) on leaving."""
    from keyring.backends.SecretService import Keyring as SecretService

    # keyring picks this process's default backend once, when first asked: asked first inside the block below
    # (by `using`), with our bus in the environment, it would pick the Secret Service and keep it after the bus
    # is gone, and a later test's CLI in this worker would fail on it
    keyring.get_keyring()
    (home / "run").mkdir(mode=0o700, parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_RUNTIME_DIR=str(home / "run"))
    # a bus that starts no service when asked for one: the session bus's own configuration would start a
    # locked keyring of its own for a question asked before our daemon has taken its name (a loaded
    # machine), and ours would then find "another secret service is running"
    config = home / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=home / "run" / "bus"))
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        assert bus.stdout is not None
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        said = (home / "gnome-keyring.err").open("wb")
        daemon = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=said, env=env)
        assert daemon.stdin is not None
        daemon.stdin.write(b"login-password")
        daemon.stdin.close()
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env["DBUS_SESSION_BUS_ADDRESS"])
        backend = SecretService()
        last: list[BaseException] = []
        try:
            wait_for(lambda: _answers(backend, last), 20, what="GNOME Keyring on the test's bus")
        except AssertionError as err:  # say what the bus and the daemon said
            said.flush()
            raise AssertionError(f"{err}: {last[-1:]!r}; exit {daemon.poll()}; it said "
                                 f"{(home / 'gnome-keyring.err').read_text(errors='replace')[-600:]!r}") from None
        with using(backend):
            yield backend
    finally:
        for process in (daemon, bus):
            if process is not None:
                process.terminate()
                process.wait(10)


def _answers(backend: KeyringBackend, last: list[BaseException]) -> bool:
    try:
        backend.get_password("timekeep-test", "ready")
    except Exception as err:  # the daemon has not taken its bus name yet: secretstorage raises its own kinds
        last.append(err)
        return False
    return True
