"""The `timekeep` process puts its young garbage collections off while it starts (core/cli/collector.py): the
first collection freezes what start-up made, then the usual thresholds return and garbage is collected as before.
Each case runs in a process of its own, since freezing would keep this test process's objects for good."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent

DEFERRED = """
import gc, weakref
from timekeep.core.cli.collector import START_GEN0, defer_young_collections
usual, before = gc.get_threshold(), gc.get_stats()[0]["collections"]
defer_young_collections()
assert gc.get_threshold() == (START_GEN0, *usual[1:]), gc.get_threshold()
started = [[] for _ in range(START_GEN0 // 2)]  # start-up's objects: not yet examined by a collection
assert gc.get_freeze_count() == 0 and gc.get_stats()[0]["collections"] == before
started += [[] for _ in range(START_GEN0)]  # past the bound: the first collection freezes them
assert gc.get_freeze_count() >= START_GEN0 and gc.get_threshold() == usual, (gc.get_freeze_count(), usual)

class Cycle:
    pass

gone = []
made = Cycle()
made.me = made  # garbage only a collection frees
weakref.finalize(made, gone.append, True)
del made
later = [[] for _ in range(3 * usual[0])]  # enough new objects for young collections at the usual threshold
assert gone == [True], "a cycle made after start-up was not collected"
print("ok")
"""


def test_start_up_is_frozen_at_the_first_collection_then_garbage_is_collected_as_usual() -> None:
    done = subprocess.run([sys.executable, "-c", DEFERRED], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          check=False)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_the_command_and_the_bundle_start_through_the_entry_that_defers_collections() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["timekeep"] == "timekeep.core.cli.main:entry"
    assert "entry()" in (ROOT / "installer" / "entry_cli.py").read_text()
    done = subprocess.run([sys.executable, "-c", "import gc, runpy, sys; sys.argv = ['timekeep', '--version']\n"
                           "try:\n    runpy.run_module('timekeep.core.cli.main', run_name='__main__')\n"
                           "except SystemExit as stop:\n    print(stop.code, gc.get_threshold()[0])"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert done.stdout.split()[-2:] == ["0", "50000"], (done.stdout, done.stderr)
