"""The passphrase and the system keyring through `timekeep`: `init` typed on a terminal offers once to keep it
(yes keeps it, no does not), a given one is kept only with --keyring; later commands unlock from it without
asking; `key change` replaces the kept passphrase; `key forget` removes it and `key remember` keeps it again.

Backend: a real Secret Service, GNOME Keyring's daemon under `dbus-run-session` (as tests/test_unlock_keyring.py),
reached through keyring's SecretService backend. The typed passphrase is typed on a real pseudo-terminal that
is the command's controlling terminal. Every command is a process of its own.
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

from tests.test_unlock_keyring import REAPER, SESSION

RUN = ("import sys; from timekeep.core.crypto import kdf; kdf.tune = lambda *a, **k: kdf.TEST_PARAMS; "
       "from timekeep.core.cli.main import main; sys.exit(main(sys.argv[1:]))")
DRIVER = textwrap.dedent("""
    import json, os, pty, select, subprocess, sys
    RUN, TTY_RUN = sys.argv[1], "import fcntl, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); " + sys.argv[1]

    def env_with(secret):
        env = {k: v for k, v in os.environ.items() if k != "TIMEKEEP_PASSPHRASE"}
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
        return {**env, "TIMEKEEP_PASSPHRASE": secret} if secret else env

    def detached(args, secret=None):
        done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True,
                              env=env_with(secret), stdin=subprocess.DEVNULL, start_new_session=True, timeout=60)
        return {"code": done.returncode, "out": done.stdout, "err": done.stderr}

    def typed(args, answers):
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-c", TTY_RUN, *args], stdin=slave, stdout=slave, stderr=slave,
                                env=env_with(None), start_new_session=True)
        os.close(slave)
        seen = b""
        for expected, reply in answers:
            while expected.encode() not in seen:
                chunk = read(master)
                if not chunk:
                    raise SystemExit(f"the command ended before asking {expected!r}: {seen!r}")
                seen += chunk
            seen = seen.replace(expected.encode(), b"<asked>", 1)
            os.write(master, reply.encode() + b"\\n")
        while chunk := read(master):
            seen += chunk
        return {"code": proc.wait(timeout=60), "out": seen.decode(errors="replace"), "err": ""}

    def read(fd):
        if not select.select([fd], [], [], 30)[0]:
            raise SystemExit("the command asked nothing within 30 s")
        try:
            return os.read(fd, 4096)
        except OSError:  # EIO: the command ended and closed the terminal
            return b""

    root = sys.argv[2]
    a, b, c, d = (os.path.join(root, name) for name in "abcd")
    new_words = os.path.join(root, "new-words")
    with open(new_words, "w") as fh:
        fh.write("new words\\n")
    asked = [("New passphrase: ", "typed words"), ("The same passphrase again: ", "typed words")]
    steps = {
        "init a typed, yes": typed(["init", a], [*asked, ("[Y/n] ", "")]),
        "a opens from the keyring": detached(["snapshots", "--repo", a]),
        "a changed": detached(["key", "change", "--repo", a, "--new-passphrase-file", new_words]),
        "a opens from the keyring again": detached(["snapshots", "--repo", a]),
        "a refuses the typed words": detached(["snapshots", "--repo", a], "typed words"),
        "a forgotten": detached(["key", "forget", "--repo", a]),
        "a has no passphrase now": detached(["snapshots", "--repo", a]),
        "a remembered": detached(["key", "remember", "--repo", a], "new words"),
        "a opens once more": detached(["snapshots", "--repo", a]),
        "init b typed, no": typed(["init", b], [*asked, ("[Y/n] ", "n")]),
        "b was not kept": detached(["key", "forget", "--repo", b]),
        "init c given": detached(["init", c], "given words"),
        "c was not kept": detached(["key", "forget", "--repo", c]),
        "init d given, --keyring": detached(["init", d, "--keyring"], "given words"),
        "d was kept": detached(["key", "forget", "--repo", d]),
    }
    print(json.dumps(steps))
""")


def in_a_secret_service_session(home: Path, work: Path) -> dict[str, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_") and k != "TIMEKEEP_PASSPHRASE"}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_RUNTIME_DIR=str(home / "run"))
    (home / "run").mkdir(mode=0o700, parents=True)
    command = shlex.join([sys.executable, "-c", DRIVER, RUN, str(work)])
    session = ["dbus-run-session", "--", "bash", "-c", SESSION.replace('"$@"', command)]
    done = subprocess.run([sys.executable, "-c", REAPER, *session], capture_output=True, text=True, env=env,
                          timeout=300, start_new_session=True)
    assert done.returncode == 0, done.stderr
    result: dict[str, dict[str, object]] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.skipif(not (shutil.which("gnome-keyring-daemon") and shutil.which("dbus-run-session")),
                    reason="needs Debian's gnome-keyring and dbus (apt-get install gnome-keyring dbus)")
def test_init_offers_the_keyring_and_key_commands_keep_it_true(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    steps = in_a_secret_service_session(tmp_path / "home", work)
    for name, step in steps.items():
        assert "Traceback" not in str(step["err"]) + str(step["out"]), name
    init_a = steps["init a typed, yes"]
    assert init_a["code"] == 0 and "Recovery key" in str(init_a["out"])
    assert "keyring keeps the passphrase" in str(init_a["out"]) and "<asked>" in str(init_a["out"])
    assert "typed words" not in str(init_a["out"])  # never echoed
    for name in ("a opens from the keyring", "a opens from the keyring again", "a opens once more"):
        assert steps[name]["code"] == 0, (name, steps[name])
    assert "keyring is now the new one" in str(steps["a changed"]["out"])
    assert steps["a refuses the typed words"]["code"] == 2
    assert "no longer holds" in str(steps["a forgotten"]["out"])
    assert steps["a has no passphrase now"]["code"] == 2
    assert "No passphrase" in str(steps["a has no passphrase now"]["err"])
    assert steps["a remembered"]["code"] == 0
    init_b = steps["init b typed, no"]
    assert init_b["code"] == 0 and "keyring keeps" not in str(init_b["out"])
    assert "held no passphrase" in str(steps["b was not kept"]["out"])
    assert steps["init c given"]["code"] == 0 and "system keyring" not in str(steps["init c given"]["out"])
    assert "held no passphrase" in str(steps["c was not kept"]["out"])
    assert "keyring keeps the passphrase" in str(steps["init d given, --keyring"]["out"])
    assert "no longer holds" in str(steps["d was kept"]["out"])
    keyrings = list((tmp_path / "home" / "data" / "keyrings").iterdir())
    assert keyrings and all(b"new words" not in p.read_bytes() for p in keyrings)  # kept encrypted
