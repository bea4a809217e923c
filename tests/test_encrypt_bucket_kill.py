"""`timekeep encrypt` on a bucket killed with SIGKILL at chosen moments: while staging the key slots, the packs
and the manifests, at the commit (the PUT of config.json), and after it while deleting the plaintext, copying
manifests and key slots into place and removing the staged objects. The moment is picked by the proxy in
front of rclone's server (tests/s3_support.py), which sees each request before passing it on, kills the
process there and drops the request: no sleeping. Afterwards the repository opens, old (killed before the
commit) or new (after), every snapshot restores byte-exact, and the next `timekeep encrypt` (old) or the next
opener (new) finishes: nothing staged is left, no object shows a name or a line, `check --read-data` is
clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bucket_history import PASSPHRASE, BucketHistory, clone, make_history, restores_exactly, shows_nothing
from tests.helpers import read_tree
from tests.s3_support import FlakyProxy, S3Server, use_test_credentials
from timekeep.core.api import encrypt_repository, locate, rebuild_index, unlock
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import RepositoryLocked, UsageError
from timekeep.core.storage.layout import load_config

ROOT = Path(__file__).resolve().parent.parent
SMALL_PACK = 128 * 1024  # the copy's packs and frames: the history's 1.6 MB makes several, so a kill lands among them

ENCRYPT = """
import sys
import timekeep.core.encrypted_copy as encrypted_copy
import timekeep.core.storage.pack as pack
from timekeep.core.crypto import kdf
pack.TARGET_PACK_SIZE = encrypted_copy.GROUP_BYTES = int(sys.argv[1])
kdf.tune = lambda *a, **k: kdf.TEST_PARAMS
from timekeep.core.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


class KillAt:
    """The proxy's hook: kills the encrypting process at the `nth` request of `method` whose path holds
    `fragment` (the repository's own prefix included, so `/laptop/packs/` is never `/encrypting/packs/`), and
    drops that request and every later one."""

    def __init__(self, method: str, fragment: str, nth: int) -> None:
        self.method, self.fragment, self.nth = method, fragment, nth
        self.pid = 0
        self.seen = 0
        self.fired = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> None:
        if self.pid == 0:
            return
        with self._lock:
            if self.fired.is_set():
                raise ConnectionAbortedError("the encrypting process was killed")
            if method == self.method and self.fragment in path.partition("?")[0]:
                self.seen += 1
                if self.seen == self.nth:
                    os.kill(self.pid, signal.SIGKILL)
                    self.fired.set()
                    raise ConnectionAbortedError("the encrypting process was killed")


# (method, path fragment, nth, what opens after: the old repository or the new). Staging is one write path
# for keys, packs and manifests alike, so it is killed once, among the packs; after the commit each step is.
POINTS = [
    ("PUT", "/laptop/encrypting/packs/", 3, "old"),
    ("PUT", "/laptop/config.json", 1, "old"),
    ("DELETE", "/laptop/packs/", 2, "new"),
    ("PUT", "/laptop/snapshots/", 2, "new"),
    ("PUT", "/laptop/keys/", 1, "new"),
    ("DELETE", "/laptop/encrypting/keys/", 2, "new"),
]


def killed_encrypt(h: BucketHistory, killer: KillAt) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIMEKEEP_PASSPHRASE": PASSPHRASE}
    with FlakyProxy(h.server.endpoint, before=killer) as proxy:
        child = subprocess.Popen(
            [sys.executable, "-c", ENCRYPT, str(SMALL_PACK), "encrypt", "--quiet", "--repo", h.url,
             "--endpoint", proxy.endpoint], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killer.pid = child.pid
        out, err = child.communicate(timeout=300)
    assert killer.fired.is_set(), (f"encrypt ended ({child.returncode}) before the kill at {killer.method} "
                                   f"{killer.fragment} #{killer.nth}: {out.decode()[-300:]} {err.decode()[-300:]}")
    assert child.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def original(rclone_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BucketHistory]:
    """The history, made once (each case gets a copy of its bucket, and a cache folder of its own)."""
    base = tmp_path_factory.mktemp("history")
    with pytest.MonkeyPatch.context() as env:
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            env.setenv(var, str(base / var.lower()))
        use_test_credentials(env, base)
        yield make_history(rclone_server, rclone_server.new_bucket(), base)


def ordinary_commands_ignore_the_staged_copy(h: BucketHistory, root: Path) -> None:
    """With a whole staged copy and its plaintext list beside the old repository (killed at the commit), a
    backup, check --read-data and rebuild-index work on the old one, as if nothing were there."""
    assert any(name.startswith("encrypting/plaintext") for name in h.objects())
    added = h.src / "after-the-kill.txt"
    added.write_bytes(b"written while a copy waited\n")
    with h.open(writer=True) as tk:
        h.trees[tk.backup().id] = read_tree(h.src)
        assert tk.check(read_data=True).problems == ()
    added.unlink()  # the folder is the other cases' too
    report = rebuild_index(root)
    assert report.problems == [] and report.lost == [] and report.snapshots == len(h.trees)
    assert any(name.startswith("encrypting/") for name in h.objects())


@pytest.mark.parametrize(("method", "fragment", "nth", "opens"), POINTS,
                         ids=[f"{m}-{f.strip('/').replace('/', '-')}-{n}" for m, f, n, _ in POINTS])
def test_kill_9_leaves_old_or_new_and_encrypt_or_the_next_opener_finishes(
        original: BucketHistory, s3_credentials: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        method: str, fragment: str, nth: int, opens: str) -> None:
    h = clone(original, original.server.new_bucket())
    killed_encrypt(h, KillAt(method, fragment, nth))
    root = locate(h.url, h.server.endpoint)
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    if opens == "old":
        assert not load_config(root).encrypted
        restores_exactly(h, tmp_path / "old")  # the old repository is whole, whatever is staged beside it
        if "config.json" in fragment:
            ordinary_commands_ignore_the_staged_copy(h, root)
        encrypt_repository(root, PASSPHRASE, argon2=TEST_PARAMS)  # starts over and finishes
    else:
        assert unlock(root, interactive=False)  # reading the config finished the moves first
        assert load_config(root).encrypted
        with pytest.raises(UsageError, match="encrypted already"):
            encrypt_repository(root, PASSPHRASE, argon2=TEST_PARAMS)
    restores_exactly(h, tmp_path / "new")
    shows_nothing(h)
    with h.open(writer=True) as tk:
        assert tk.check(read_data=True).problems == ()


class TryWriterAt:
    """The proxy's hook: at the first upload of the copy's packs, another writer tries to open the repository
    (past the proxy, straight to the server) while the encrypting process waits for its request."""

    def __init__(self, h: BucketHistory) -> None:
        self.h = h
        self.refusal: BaseException | None = None
        self.tried = threading.Event()

    def __call__(self, method: str, path: str) -> None:
        if method != "PUT" or "/encrypting/packs/" not in path or self.tried.is_set():
            return
        self.tried.set()
        try:
            with self.h.open(writer=True):
                pass
        except RepositoryLocked as err:
            self.refusal = err


def test_a_writer_meanwhile_is_refused_and_the_encryption_goes_on(
        original: BucketHistory, s3_credentials: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = clone(original, original.server.new_bucket())
    other = TryWriterAt(h)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIMEKEEP_PASSPHRASE": PASSPHRASE}
    with FlakyProxy(h.server.endpoint, before=other) as proxy:
        done = subprocess.run(
            [sys.executable, "-c", ENCRYPT, str(SMALL_PACK), "encrypt", "--quiet", "--repo", h.url,
             "--endpoint", proxy.endpoint], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert other.tried.is_set() and other.refusal is not None, "a second writer got in while encrypting"
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    assert unlock(locate(h.url, h.server.endpoint), interactive=False)
    restores_exactly(h, tmp_path / "new")
    shows_nothing(h)
