"""kill -9 during `timekeep key change`: at every step of its writing, the repository afterwards opens with the
old passphrase or the new one (never neither), the recovery key still opens it, and a restore is byte-exact.

The command runs in a process of its own; once the current passphrase has opened the key, each file-system
call (open, fsync, close, rename, link, unlink) counts as a step; at step N it says so and is killed there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import make_tree, read_tree
from timekeep.core.api import Timekeep, init_repository, unlock
from timekeep.core.crypto import keys, sealing
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import WrongPassphrase
from timekeep.core.storage.layout import load_config

OLD, NEW = "old words", "new words"
CHILD = textwrap.dedent("""
    import os, sys
    from timekeep.core.crypto import kdf, keys
    from timekeep.core.storage import atomic
    from timekeep.core.cli import key_cmd, main as cli_main
    from timekeep.core import api, rekeying, unlocking

    kdf.tune = lambda *a, **k: kdf.TEST_PARAMS
    stop_at, steps, armed = int(sys.argv[1]), [0], [False]

    def counted(name, real):
        def call(*args, **kwargs):
            if armed[0]:
                steps[0] += 1
                if steps[0] == stop_at:
                    print("stopped", name, flush=True)
                    sys.stdin.read()  # until killed
            return real(*args, **kwargs)
        return call

    real_rewrap = keys.rewrap

    def rewrap(*args, **kwargs):
        armed[0] = True
        return real_rewrap(*args, **kwargs)

    keys.rewrap = rewrap
    for name in ("open", "fsync", "close", "rename", "replace", "link", "unlink"):
        setattr(os, name, counted(name, getattr(os, name)))
    atomic._rename_noreplace = counted("renameat2", atomic._rename_noreplace)
    code = cli_main.main(sys.argv[2:])
    print("done", code, flush=True)
""")


def change_stopped_at(repo: Path, step: int, new_file: Path) -> str:
    """Run `timekeep key change`, killing it at `step`; what it said: 'stopped <call>' or 'done <code>'."""
    env = {**os.environ, "TIMEKEEP_PASSPHRASE": OLD, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    args = ["key", "change", "--repo", str(repo), "--new-passphrase-file", str(new_file)]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(step), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    assert proc.stdout is not None
    said = ""
    while not said.startswith(("stopped", "done")):
        line = proc.stdout.readline()
        assert line, f"the child ended saying nothing: {proc.communicate(timeout=60)[1]}"
        said = line.strip()
    if said.startswith("stopped"):
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return said


def opens_with(repo: Path, rid: str, secret: str) -> keys.Unlocked | None:
    try:
        return keys.unlock(repo, rid, secret)
    except WrongPassphrase:
        return None


def test_key_change_killed_at_any_step_leaves_a_repository_that_opens_old_or_new(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "papers"
    make_tree(src, {"a.txt": b"alpha\n" * 300, "sub": {"b.bin": os.urandom(50_000)}})
    new_file = tmp_path / "new-words"
    new_file.write_text(NEW + "\n")
    stopped_at = []
    for step in range(1, 40):
        repo = tmp_path / f"step{step}"
        recovery = init_repository(repo, encryption="repokey", passphrase=OLD, argon2=TEST_PARAMS)
        assert recovery is not None
        rid = load_config(repo).repository_id
        made = keys.unlock(repo, rid, OLD)
        said = change_stopped_at(repo, step, new_file)
        old, new = opens_with(repo, rid, OLD), opens_with(repo, rid, NEW)
        assert old or new, f"killed at step {step} ({said}): neither passphrase opens"
        assert all(u.key == made.key and not u.skipped for u in (old, new) if u)
        assert keys.unlock(repo, rid, recovery).key == made.key
        if said.startswith("done"):
            assert said == "done 0" and new and not old
            break
        stopped_at.append(said.split()[1])
    assert {"open", "fsync", "renameat2", "unlink"} <= set(stopped_at)  # every kind of step was a kill point
    sealing.forget(rid)
    os.environ["TIMEKEEP_PASSPHRASE"] = NEW
    try:
        unlock(repo, interactive=False)
    finally:
        del os.environ["TIMEKEEP_PASSPHRASE"]
    with Timekeep.open(repo, writer=True) as tk:  # and the repository works on, byte-exact
        tk.add_folder(os.fsencode(src))
        sid = tk.backup().id
        tk.restore(os.fsencode(src), sid, dest=os.fsencode(tmp_path / "back"))
    assert read_tree(tmp_path / "back" / "papers") == read_tree(src)
