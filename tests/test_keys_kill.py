"""kill -9 at every step of changing the passphrase: afterwards at least one slot opens the same key with the
old passphrase or the new one, the recovery key still opens it, and the next writer carries on (issue 12).

The change runs in a process of its own whose file-system calls (open, fsync, close, rename, link, unlink)
each count as a step; at step N it says so and waits, and is killed there with SIGKILL.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from timekeep.core.crypto import keys
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import WrongPassphrase

REPO_ID = "00112233445566778899aabbccddeeff"
CHILD = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from timekeep.core.crypto import keys
    from timekeep.core.crypto.kdf import TEST_PARAMS
    from timekeep.core.storage import atomic

    root, stop_at, steps = Path(sys.argv[1]), int(sys.argv[2]), [0]

    def counted(name, real):
        def call(*args, **kwargs):
            steps[0] += 1
            if steps[0] == stop_at:
                print("stopped", name, flush=True)
                sys.stdin.read()  # until killed
            return real(*args, **kwargs)
        return call

    for name in ("open", "fsync", "close", "rename", "replace", "link", "unlink"):
        setattr(os, name, counted(name, getattr(os, name)))
    atomic._rename_noreplace = counted("renameat2", atomic._rename_noreplace)
    keys.change_passphrase(root, sys.argv[3], "old words", "new words", TEST_PARAMS)
    print("done", flush=True)
""")


def change_stopped_at(root: Path, step: int) -> str:
    """Run the change, killing it at `step`; what it said: 'stopped <call>' or 'done'."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(step), REPO_ID], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    said = proc.stdout.readline().strip()
    if said.startswith("stopped"):
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert said, f"the child said nothing: {err}"
    return said


def opens_with(root: Path, passphrase: str) -> keys.Unlocked | None:
    try:
        return keys.unlock(root, REPO_ID, passphrase)
    except WrongPassphrase:
        return None


def test_a_passphrase_change_killed_at_any_step_leaves_a_slot_that_opens(tmp_path: Path) -> None:
    stopped_at = []
    for step in range(1, 40):
        root = tmp_path / f"step{step}"
        root.mkdir()
        made = keys.create(root, REPO_ID, "old words", TEST_PARAMS)
        said = change_stopped_at(root, step)
        old, new = opens_with(root, "old words"), opens_with(root, "new words")
        assert old or new, f"killed at step {step} ({said}): neither passphrase opens"
        assert all(u.key == made.key and not u.skipped for u in (old, new) if u)
        assert keys.unlock(root, REPO_ID, made.recovery_text).key == made.key
        survivor = "new words" if new else "old words"
        keys.change_passphrase(root, REPO_ID, survivor, "after the crash", TEST_PARAMS)  # the next writer
        assert keys.unlock(root, REPO_ID, "after the crash").key == made.key
        assert not [p for p in (root / "keys").iterdir() if p.name.startswith(".")]  # temporaries cleared
        if said == "done":
            assert new and not old
            break
        stopped_at.append(said.split()[1])
    assert {"open", "fsync", "renameat2", "unlink"} <= set(stopped_at)  # every kind of step was a kill point
