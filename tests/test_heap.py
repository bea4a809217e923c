"""Handing freed memory back during a backup (core/heap.py): on this glibc system it really trims."""

from __future__ import annotations

import platform
import threading

from timekeep.core.heap import release_free_memory


def _resident_pages() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1])


def test_freed_megabytes_of_many_threads_go_back_to_the_system() -> None:
    assert platform.libc_ver()[0] == "glibc", "the machines this project runs on use glibc"
    kept: list[bytes] = []

    def churn() -> None:
        for n in range(40):  # big buffers freed in turn, small objects that live on between them
            buffers = [bytes(600_000 + n) for _ in range(8)]
            kept.append(bytes(100))
            del buffers

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    before = _resident_pages()
    assert release_free_memory() is True
    assert _resident_pages() <= before
