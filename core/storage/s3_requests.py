"""Every request to an S3 server goes through here: at most `max_requests` at once, transient failures
tried again after a growing pause, and any other failure turned into one clear StorageError.

botocore's own retries are turned off (the client makes one attempt per call) so that one policy covers
everything, including what botocore's cannot: a response body that breaks off while it is read. The
pause is "full jitter" (a random share of base·2^attempt, capped), so many clients that failed together
do not come back together; the sleep is injected, so tests pass a pause of nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from timekeep.core.storage.s3_errors import is_transient, storage_error

T = TypeVar("T")


@dataclass(frozen=True)
class S3Tuning:
    """How hard to try: the bound on parallel requests, attempts and pauses, timeouts, and upload parts."""

    max_requests: int = 8
    attempts: int = 6
    backoff: float = 0.25  # seconds: the first pause's ceiling, doubled after each failure
    max_pause: float = 10.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    part_size: int = 8 << 20  # multipart uploads: S3 wants at least 5 MiB for every part but the last
    # files larger than this are uploaded in parts, several at once; a pack (32 MiB, plus the frame that passed
    # that and its footer) stays under it, so a backup makes one PUT per pack, as a part costs a request too
    multipart_over: int = 48 << 20
    list_page: int = 1000  # keys per listing request (S3's own maximum)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)


class Requests:
    """The bounded, retrying way to call the S3 client for one repository (thread-safe, as the client is)."""

    def __init__(self, url: str, endpoint: str, tuning: S3Tuning) -> None:
        self.url, self.endpoint, self.tuning = url, endpoint, tuning
        self._slots = threading.BoundedSemaphore(tuning.max_requests)
        self._count_lock = threading.Lock()
        self.made = 0  # requests sent, retries included
        self.retried = 0  # of which were second or later attempts

    def call(self, doing: str, request: Callable[[], T],
             passes: Callable[[BaseException], bool] = lambda err: False) -> T:
        """`request()`'s result, tried up to `attempts` times while it fails transiently. An error for which
        `passes` is true is raised as it is, for the caller to interpret; any other becomes a StorageError."""
        attempt = 0
        while True:
            try:
                return self._once(request, attempt)
            except Exception as err:
                if passes(err):
                    raise
                attempt += 1
                if not is_transient(err) or attempt >= self.tuning.attempts:
                    raise storage_error(err, self.url, self.endpoint, doing) from err
                self.tuning.sleep(self.pause(attempt))

    def pause(self, attempt: int) -> float:
        ceiling = min(self.tuning.max_pause, self.tuning.backoff * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)

    def _once(self, request: Callable[[], T], attempt: int) -> T:
        with self._count_lock:
            self.made += 1
            self.retried += attempt > 0
        with self._slots:
            return request()
