"""The writer lock of a repository in object storage: a `lock` object holding a lease.

A bucket has no flock() and no process table, so "the holder is gone" can only mean "its lease ran out".
The holder writes `{"host", "pid", "token", "started", "expires"}` (seconds since the epoch) and renews
`expires` every third of the lease from a background thread. A taker takes the lock only when there is
none, or when the one there expired more than `grace` ago (the grace absorbs clocks that disagree
between computers): by a conditional write (If-None-Match for a new lock, If-Match on the expired one's
ETag to break it) where the server honours them, and in every case by reading the lock back to see that
its token is ours. On a server that ignores conditions, two takers that read and write within the same
instant could both see their own token; the read-back catches every slower race.

A lease also names the computer (its machine id and process namespace): one held by a process of this very
computer that has ended is stale at once, as a drive's flock would be, so a command that lost its server
mid-backup and could not delete its lock does not keep the next one waiting for the lease to run out.

A holder whose renewal finds another token (its lease ran out, say over a suspend, and another computer
took the lock) stops: `check()`, which the backend calls before every write, raises LeaseLost from then
on. Release deletes the lock only while it is still ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from timekeep.core.errors import RepositoryLocked, StorageError


class LeaseLost(RepositoryLocked):
    """This process's lease on the writer lock ran out and another writer took the lock: it must stop."""


class LeaseStore(Protocol):
    """The conditional object operations a lease needs (S3Backend provides them)."""

    @property
    def where(self) -> str: ...

    def read_tagged(self, name: str) -> tuple[bytes, str] | None: ...

    def put_if(self, name: str, data: bytes, *, absent: bool = False, tag: str | None = None) -> bool: ...

    def delete_if(self, name: str, tag: str) -> None: ...


@dataclass(frozen=True)
class LeaseSettings:
    """How long a lease lasts, how long past it a taker waits, and the clock (wall time: leases are
    compared between computers)."""

    lease: float = 90.0
    grace: float = 30.0
    clock: Callable[[], float] = field(default=time.time, compare=False)
    renew: bool = True  # renew from a background thread; tests that drive renewals themselves turn it off


@dataclass(frozen=True)
class Lease:
    host: str
    pid: int
    token: str
    started: float
    expires: float
    machine: str = ""  # this computer and process namespace (machine_id()); "" from an older Timekeep

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> Lease | None:
        """The lease in `data`, or None for anything else (an empty or damaged lock object holds nothing)."""
        try:
            fields = json.loads(data)
            return cls(str(fields["host"]), int(fields["pid"]), str(fields["token"]), float(fields["started"]),
                       float(fields["expires"]), str(fields.get("machine", "")))
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.started).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return f"process {self.pid} on {self.host} (since {since})"


def live_lease(store: LeaseStore, name: str, settings: LeaseSettings) -> Lease | None:
    """The lease a live writer holds on `name`, or None when there is none or it has run out."""
    found = store.read_tagged(name)
    lease = None if found is None else Lease.decode(found[0])
    return lease if lease is not None and _alive(lease, settings) else None


def _alive(lease: Lease, settings: LeaseSettings) -> bool:
    return settings.clock() <= lease.expires + settings.grace and not holder_gone(lease)


def holder_gone(lease: Lease) -> bool:
    """Whether the lease's holder was a process of this computer (same machine id and process namespace)
    that has ended. Another computer's, or one whose process may still run, is judged by its lease alone."""
    here = machine_id()
    if not here or lease.machine != here or lease.pid == os.getpid() or lease.pid <= 0:
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # there, but another user's
        return False
    return False


def machine_id() -> str:
    """This computer's machine id and this process's PID namespace: a PID means the same process only
    where both match (a sandbox sharing the machine id has its own PIDs). "" when either is unknown."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            text = Path(path).read_text().strip()
            if text:
                break
    else:
        return ""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{text}:{namespace}"


class LeaseLock:
    """The one writer's lock on the repository in `store`, held as the object `name`."""

    def __init__(self, store: LeaseStore, name: str = "lock", settings: LeaseSettings | None = None) -> None:
        self.store, self.name, self.settings = store, name, settings or LeaseSettings()
        self._mine: Lease | None = None
        self._tag = ""
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock, or RepositoryLocked naming the live holder."""
        found = self.store.read_tagged(self.name)
        there = None if found is None else Lease.decode(found[0])
        if there is not None and _alive(there, self.settings):
            raise RepositoryLocked(self._in_use(there))
        now = self.settings.clock()
        mine = Lease(socket.gethostname(), os.getpid(), secrets.token_hex(16), now, now + self.settings.lease,
                     machine_id())
        written = self.store.put_if(self.name, mine.encode(), absent=found is None,
                                    tag=None if found is None else found[1])
        if not written or not self._still_ours(mine):
            raise RepositoryLocked(self._in_use(live_lease(self.store, self.name, self.settings)))
        self._mine, self._lost = mine, None
        if self.settings.renew:
            self._start_renewing()

    def renew(self) -> bool:
        """Push the lease's expiry on; False (and `check()` raises from then on) if the lock is no longer ours."""
        mine = self._mine
        if mine is None or self._lost is not None:
            return False
        renewed = replace(mine, expires=self.settings.clock() + self.settings.lease)
        try:
            ours = self._still_ours(mine) and self.store.put_if(self.name, renewed.encode(), tag=self._tag)
            ours = ours and self._still_ours(renewed)
        except StorageError:
            if self.settings.clock() <= mine.expires:
                return True  # try again at the next renewal, while the lease still holds
            ours = False
        if not ours:
            self._lost = self._lost_message(mine)
            return False
        self._mine = renewed
        return True

    def check(self) -> None:
        """LeaseLost if the lock was taken from this writer, or its lease ran out unrenewed (the network
        was down, the renewal thread stopped): writes must not go on."""
        mine = self._mine
        if self._lost is None and mine is not None and self.settings.clock() > mine.expires:
            self._lost = (f"the writer lock on {self.store.where} could not be renewed before its lease ran out; "
                          "this writer stopped (run the backup again)")
        if self._lost is not None:
            raise LeaseLost(self._lost)

    @property
    def held(self) -> bool:
        return self._mine is not None and self._lost is None

    def release(self) -> None:
        """Stop renewing and delete the lock, only if it is still ours. A server out of reach keeps it until
        its lease runs out, as a holder that died would."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        mine, self._mine = self._mine, None
        with contextlib.suppress(StorageError):
            if mine is not None and self._lost is None and self._still_ours(mine):
                self.store.delete_if(self.name, self._tag)

    def _still_ours(self, mine: Lease) -> bool:
        """Read the lock back: it is ours only if the token there is ours (its ETag is noted for the next
        conditional write)."""
        found = self.store.read_tagged(self.name)
        there = None if found is None else Lease.decode(found[0])
        if found is None or there is None or there.token != mine.token:
            return False
        self._tag = found[1]
        return True

    def _start_renewing(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, name="lease-renewal", daemon=True)
        self._thread.start()

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.settings.lease / 3):
            if not self.renew():
                return

    def _in_use(self, holder: Lease | None) -> str:
        who = "another computer" if holder is None else holder.describe()
        return f"repository {self.store.where} is in use by {who} (a backup is running); try again later"

    def _lost_message(self, mine: Lease) -> str:
        try:
            found = self.store.read_tagged(self.name)
        except StorageError:
            found = None
        taker = None if found is None else Lease.decode(found[0])
        by = "" if taker is None or taker.token == mine.token else f" by {taker.describe()}"
        return (f"the writer lock on {self.store.where} was taken over{by} after this writer's lease ran out; "
                "this writer stopped (run the backup again)")
