"""The writer lock of a repository in a bucket, against real S3 servers (moto honours conditional writes,
rclone does not): one holder at a time, an expired lease broken by the next taker, and the broken holder
told to stop at its next renewal. The clock is injected; only the renewal thread's own test runs in time."""

from __future__ import annotations

import os
import socket

import pytest

from tests.agent_support import wait_for
from tests.s3_support import FlakyProxy, S3Server
from timekeep.core.errors import RepositoryLocked
from timekeep.core.storage.lease_lock import Lease, LeaseLost, LeaseSettings
from timekeep.core.storage.s3_backend import S3Backend
from timekeep.core.storage.s3_requests import S3Tuning

QUICK = S3Tuning(attempts=3, backoff=0.0, connect_timeout=2.0, sleep=lambda _: None)
LEASE, GRACE = 90.0, 30.0


class Clock:
    """Wall time as a test sets it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def backend_with(server: S3Server, bucket: str, clock: Clock, **settings: object) -> S3Backend:
    lease = LeaseSettings(**{"lease": LEASE, "grace": GRACE, "clock": clock, "renew": False, **settings})  # type: ignore[arg-type]
    return S3Backend(f"s3://{bucket}/repo", server.endpoint, tuning=QUICK, lease=lease, session=server.session)


def stored_lease(backend: S3Backend) -> Lease | None:
    found = backend.read_tagged("lock")
    return None if found is None else Lease.decode(found[0])


def test_a_second_writer_is_refused_naming_the_first(s3_server: S3Server, s3_bucket: str) -> None:
    clock = Clock()
    first, second = (backend_with(s3_server, s3_bucket, clock) for _ in range(2))
    held = first.writer_lock()
    held.acquire()
    assert first.writer_running() and second.writer_running()
    clock.now += LEASE + GRACE - 1  # not yet past the lease and its grace
    with pytest.raises(RepositoryLocked, match=f"in use by process {os.getpid()} on {socket.gethostname()}"):
        second.writer_lock().acquire()
    held.release()
    assert not second.writer_running() and stored_lease(second) is None
    taken = second.writer_lock()
    taken.acquire()
    assert taken.held and stored_lease(first) is not None


def test_renewal_keeps_the_lease_alive(s3_server: S3Server, s3_bucket: str) -> None:
    clock = Clock()
    backend = backend_with(s3_server, s3_bucket, clock)
    held = backend.writer_lock()
    held.acquire()
    for _ in range(3):
        clock.now += LEASE / 3
        assert held.renew()
    lease = stored_lease(backend)
    assert lease is not None and lease.expires == clock.now + LEASE
    clock.now += LEASE + GRACE - 1  # past the first lease long ago, within the renewed one
    with pytest.raises(RepositoryLocked):
        backend_with(s3_server, s3_bucket, clock).writer_lock().acquire()


def test_an_expired_lease_is_broken_and_its_holder_stops(s3_server: S3Server, s3_bucket: str) -> None:
    clock = Clock()
    sleeper, taker = (backend_with(s3_server, s3_bucket, clock) for _ in range(2))
    old = sleeper.writer_lock()
    old.acquire()
    sleeper.write("packs/aa/before.pack", b"stored before the suspend")
    clock.now += LEASE + GRACE + 1  # the laptop slept through its renewals
    assert not taker.writer_running()
    new = taker.writer_lock()
    new.acquire()
    token = stored_lease(taker)
    assert token is not None and new.held
    assert not old.renew()
    with pytest.raises(LeaseLost, match=f"taken over by process {os.getpid()}"):
        sleeper.write("packs/aa/after.pack", b"must not be written")
    with pytest.raises(LeaseLost):
        sleeper.delete("packs/aa/before.pack")
    assert sleeper.stat("packs/aa/after.pack") is None and sleeper.stat("packs/aa/before.pack") is not None
    old.release()  # the broken holder does not delete the new holder's lock
    assert stored_lease(taker) == token and taker.writer_running()
    taker.write("packs/aa/after.pack", b"the new writer writes")


def test_a_damaged_lock_object_holds_nothing(s3_server: S3Server, s3_bucket: str) -> None:
    clock = Clock()
    backend = backend_with(s3_server, s3_bucket, clock)
    backend.write("lock", b"\x00not json")
    assert not backend.writer_running()
    held = backend.writer_lock()
    held.acquire()
    assert held.held and backend.writer_running()


def test_a_taker_that_loses_the_race_is_refused_or_the_winner_finds_out(s3_server: S3Server, s3_bucket: str) -> None:
    """Two takers read "no lock" at once, then both write. Where the server honours If-None-Match the
    slower is refused; where it does not (rclone), its lock replaces the first's, and the first taker
    finds out at its next renewal and stops."""
    clock = Clock()
    first, second = (backend_with(s3_server, s3_bucket, clock) for _ in range(2))
    slow = second.writer_lock()
    in_between = first.writer_lock()
    read_tagged = second.read_tagged

    def read_then_let_the_other_in(name: str) -> tuple[bytes, str] | None:
        found = read_tagged(name)
        if not in_between.held:
            in_between.acquire()
        return found

    second.read_tagged = read_then_let_the_other_in  # type: ignore[method-assign]
    if second.conditions().if_none_match:
        with pytest.raises(RepositoryLocked, match=f"process {os.getpid()}"):
            slow.acquire()
        assert in_between.renew()
    else:
        slow.acquire()
        assert not in_between.renew()
        with pytest.raises(LeaseLost):
            first.write("packs/bb/x.pack", b"x")


def test_the_lease_is_renewed_in_the_background(s3_server: S3Server, s3_bucket: str) -> None:
    """The renewal thread pushes the expiry on by itself, every third of a lease (a second here). The lease's
    clock is the test's, so a loaded machine that wakes the thread late never lets the lease run out."""
    clock = Clock()
    backend = S3Backend(f"s3://{s3_bucket}/repo", s3_server.endpoint, tuning=QUICK, session=s3_server.session,
                        lease=LeaseSettings(lease=1.0, grace=0.0, clock=clock))
    held = backend.writer_lock()
    held.acquire()
    first = stored_lease(backend)
    assert first is not None and first.expires == clock.now + 1.0
    clock.now += 0.5  # within the lease: the next renewal pushes its end to half a second past the first's
    wait_for(lambda: (stored_lease(backend) or first).expires == first.expires + 0.5, timeout=60,
             what="the lease to be renewed")
    held.release()
    assert stored_lease(backend) is None and not backend.writer_running()


def test_a_writer_whose_lease_ran_out_unrenewed_stops_writing(s3_server: S3Server, s3_bucket: str) -> None:
    """No renewal got through (the network was down): once its own lease is over, it writes no more, even
    before anyone else takes the lock."""
    clock = Clock()
    backend = backend_with(s3_server, s3_bucket, clock)
    held = backend.writer_lock()
    held.acquire()
    clock.now += LEASE - 1
    backend.write("packs/cc/in-time.pack", b"within the lease")
    clock.now += 2
    with pytest.raises(LeaseLost, match="could not be renewed before its lease ran out"):
        backend.write("packs/cc/too-late.pack", b"after it")
    assert backend.stat("packs/cc/too-late.pack") is None and not held.renew()


def test_a_release_the_server_refuses_leaves_the_lease_to_run_out(s3_server: S3Server, s3_bucket: str) -> None:
    clock = Clock()
    with FlakyProxy(s3_server.endpoint) as proxy:
        lease = LeaseSettings(lease=LEASE, grace=GRACE, clock=clock, renew=False)
        backend = S3Backend(f"s3://{s3_bucket}/repo", proxy.endpoint, tuning=QUICK, lease=lease,
                            session=s3_server.session)
        held = backend.writer_lock()
        held.acquire()
        proxy.fail_every = 1
        held.release()  # no error: the lease runs out by itself
        proxy.fail_every = 0
        assert backend.writer_running()
        clock.now += LEASE + GRACE + 1
        assert not backend.writer_running()
