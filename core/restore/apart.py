"""A big folder's restore run by a `timekeep restore` process of its own, for a process that runs threads (the
window).

A folder restore is spread over processes (shares.py) only by a process with one thread: a fork copies the
locks other threads hold. The window runs many, so it hands a big folder (`shares.big_folder`) to the command,
which shares it as it would from a terminal, and reads back what the command says: its progress as JSON lines
on its error stream, its result as one JSON document whose names are lossless (core/cli/output.py). A
passphrase the caller holds goes through a pipe (`--passphrase-file /dev/fd/N`), never the command line or the
environment. Where the command gives no result (it could not start, could not unlock the repository, or was
killed), `restore` returns None and the caller restores in its own process, which finds what the command had
written already in place.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from timekeep.core.own_command import secret_through_pipe, timekeep_argv
from timekeep.core.types import FileError, Progress, RestoreResult

OnProgress = Callable[[Progress], None]


def restore(root: Path, path: bytes, snapshot_id: int, dest: bytes | None, overwrite: bool, secret: str | None,
            progress: OnProgress | None = None) -> RestoreResult | None:
    """`path` as it was at the snapshot, restored by the `timekeep restore` command (to `dest`, or in place);
    its result, or None when the command gave none."""
    argv: list[str | bytes] = [*timekeep_argv(), "restore", path, "--at", str(snapshot_id), "--json",
                               "--repo", str(root)]
    if dest is not None:
        argv += ["--to", dest]
    if overwrite:
        argv.append("--overwrite")
    try:
        with secret_through_pipe(secret) as (given, fds), tempfile.TemporaryFile() as out:  # not a pipe: the
            # result may be megabytes, written as the command ends
            with subprocess.Popen([*argv, *given], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                                  pass_fds=fds) as command:
                assert command.stderr is not None
                _follow(command.stderr, path, progress)
            out.seek(0)
            return _result(out.read())
    except OSError:  # the command could not be started
        return None


def _follow(stream: IO[bytes], path: bytes, progress: OnProgress | None) -> None:
    """Read the command's error stream to its end, handing each progress line on as the restore's bytes."""
    started = time.monotonic()
    for line in stream:
        if progress is None or not line.startswith(b"{"):
            continue
        with contextlib.suppress(ValueError, TypeError, KeyError):
            done = int(json.loads(line)["bytes_done"])
            progress(Progress("restore", 0, 0, done, 0, time.monotonic() - started, path))


def _result(text: bytes) -> RestoreResult | None:
    """The result the command printed; None where it printed none (it failed before, or was killed)."""
    try:
        doc = json.loads(text)
        return RestoreResult(
            written=tuple(_names(doc, "written")),
            kept_beside=tuple((_name(pair, "kept"), _name(pair, "restored")) for pair in doc["kept_beside"]),
            unchanged=int(doc["unchanged"]),
            errors=tuple(FileError(_name(e, "path"), str(e["kind"]), str(e["message"])) for e in doc["errors"]),
            already_beside=tuple((_name(pair, "kept"), _name(pair, "restored")) for pair in doc["already_beside"]),
            metadata_kept=int(doc["metadata_kept"]),
            warnings=tuple(str(w) for w in doc["warnings"]),
        )
    except (ValueError, TypeError, KeyError):
        return None


def _name(doc: dict[str, Any], key: str) -> bytes:
    """A name as the command gave it: its exact bytes beside it where they are not UTF-8."""
    exact = doc.get(f"{key}_b64")
    return base64.b64decode(exact) if exact else os.fsencode(doc[key])


def _names(doc: dict[str, Any], key: str) -> list[bytes]:
    exact = doc.get(f"{key}_b64") or [None] * len(doc[key])
    return [base64.b64decode(b) if b else os.fsencode(text) for text, b in zip(doc[key], exact, strict=True)]
