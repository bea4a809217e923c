"""A destination in a bucket as the agent follows it: looked at now and then, with growing waits while it
cannot be reached, its comings and goings reported once each (tests/test_agent_s3.py runs the real thing)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import wait
from pathlib import Path

import pytest

from timekeep.core.agent.config import parse_config
from timekeep.core.agent.reachable import RemotePoller
from timekeep.core.agent.where import destination_of, is_remote, key_of
from timekeep.core.drives import Presence
from timekeep.core.errors import UsageError

URL = "s3://backups/laptop"


class Bucket:
    """What the probe finds, and every look it was asked for (location, expected id)."""

    def __init__(self) -> None:
        self.answer = Presence(False, "waiting for the network (the server cannot be reached)")
        self.looks: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, location: str, expected: str | None) -> Presence:
        with self.lock:
            self.looks.append((location, expected))
            return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def settle(poller: RemotePoller) -> list[tuple[str, Presence]]:
    """Poll, let the looks started finish, and poll again: the changes those looks found."""
    changes = poller.poll()
    for looks in poller.looks.values():
        if looks.pending is not None:
            wait([looks.pending], timeout=10)
    return changes + poller.poll()


def test_destinations_keep_s3_locations_as_written_and_folders_absolute(tmp_path: Path) -> None:
    config = parse_config({"destinations": ["s3://backups/laptop/", "relative/repo"]}, extra=URL)
    assert config.destinations == (URL, Path("relative/repo").absolute())
    assert is_remote(config.destinations[0]) and not is_remote(config.destinations[1])
    assert key_of("s3://backups/laptop/") == URL and key_of("rel") == str(Path("rel").absolute())
    assert destination_of(tmp_path) == tmp_path
    with pytest.raises(UsageError, match="bucket"):
        parse_config({"destinations": ["s3://B/x"]})


def test_an_unreachable_bucket_is_looked_at_with_doubling_waits_then_steadily_once_back() -> None:
    bucket, clock = Bucket(), Clock()
    poller = RemotePoller([URL], bucket, clock, every_s=60, first_wait_s=2, max_wait_s=10)
    try:
        changes = settle(poller)
        assert [(w, p.present) for w, p in changes] == [(URL, False)]  # the first answer is news
        waits = []
        for _ in range(5):
            due = poller.looks[URL].due
            clock.now = due - 0.01
            assert settle(poller) == [] and len(bucket.looks) == 1 + len(waits), "looked again before its time"
            clock.now = due
            assert settle(poller) == []  # still away: no change to report
            waits.append(poller.looks[URL].due - clock.now)
        assert waits == [4, 8, 10, 10, 10]
        bucket.answer = Presence(True, "", "id1", "")
        clock.now = poller.looks[URL].due
        assert [(w, p.present) for w, p in settle(poller)] == [(URL, True)]
        assert poller.looks[URL].due == clock.now + 60 and poller.present(URL)
        poller.look_soon(URL)  # a storage time failed on the way there
        settle(poller)
        assert bucket.looks[-1] == (URL, "id1"), "the repository first seen there is the one expected"
    finally:
        poller.close()


def test_a_bucket_that_stays_away_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    bucket, clock = Bucket(), Clock()
    poller = RemotePoller([URL], bucket, clock, every_s=60, first_wait_s=1, max_wait_s=1)
    caplog.set_level(logging.INFO)
    try:
        for _ in range(20):
            settle(poller)
            clock.now = poller.looks[URL].due
        assert len(bucket.looks) >= 20
        assert caplog.text.count(URL) == 0, "the same absence is not logged at every look"
        bucket.answer = Presence(False, "no credentials for s3://backups/laptop")
        settle(poller)
        assert caplog.text.count("still unreachable") == 1  # a new reason is worth one line
    finally:
        poller.close()


def test_a_probe_that_fails_outright_counts_as_an_absence_with_its_reason() -> None:
    clock = Clock()

    def broken(location: str, expected: str | None) -> Presence:
        raise RuntimeError("the probe itself broke")

    poller = RemotePoller([URL], broken, clock)
    try:
        ((where, presence),) = settle(poller)
        assert where == URL and not presence.present and "the probe itself broke" in presence.reason
    finally:
        poller.close()


def test_a_located_root_names_the_same_destination_as_its_url(s3_credentials: None) -> None:
    from timekeep.core.api import locate

    root = locate(URL, "http://127.0.0.1:9")  # nothing is asked of the server
    assert key_of(root) == URL and destination_of(root) == URL
