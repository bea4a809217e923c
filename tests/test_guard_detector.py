"""The guard's detector on scripted bursts of real file actions, fed the events the watcher reports, on an
injected clock: ordinary work never makes a finding, attack-like damage always does, and a burst of any size
costs a bounded number of sampled reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.guard_support import ATTACKS, ORDINARY, Clock, Files, make_docs
from timekeep.core.errors import UsageError
from timekeep.core.guard.detector import Detector, Finding
from timekeep.core.guard.sample import damaged_looking, entropy, looks_random, read_sample
from timekeep.core.guard.thresholds import Thresholds, thresholds_from, thresholds_or_defaults


def settle(detector: Detector, clock: Clock) -> Finding | None:
    """Look once now, and again once every rewritten file has been quiet long enough to be sampled."""
    detector.look()
    clock.now += detector.thresholds.settle_seconds
    return detector.look()


def counting_sampler(reads: list[bytes]):  # type: ignore[no-untyped-def]
    def sample(path: bytes) -> tuple[bytes, bytes] | None:
        reads.append(path)
        return read_sample(path)
    return sample


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_work_is_no_incident(tmp_path: Path, name: str) -> None:
    before, burst = ORDINARY[name]
    make_docs(Files(tmp_path))  # documents lie around, untouched
    if before is not None:
        before(Files(tmp_path))
    clock = Clock()
    detector = Detector(Thresholds(), clock)
    changed = burst(Files(tmp_path, detector, clock))
    assert settle(detector, clock) is None
    assert detector.seen >= len(changed)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_like_damage_is_an_incident(tmp_path: Path, name: str) -> None:
    make_docs(Files(tmp_path))
    clock = Clock()
    detector = Detector(Thresholds(), clock)
    start = clock.now
    ATTACKS[name](Files(tmp_path, detector, clock))
    finding = settle(detector, clock)
    assert finding is not None, name
    assert finding.reasons
    assert start < finding.started < start + 5  # when the first damaging event came
    assert all(os.fsencode(tmp_path) in p for p in finding.paths)


def test_each_finding_says_what_it_saw(tmp_path: Path) -> None:
    make_docs(Files(tmp_path))
    clock = Clock()
    detector = Detector(Thresholds(), clock)
    ATTACKS["rewritten in place"](Files(tmp_path, detector, clock))
    finding = settle(detector, clock)
    assert finding is not None and finding.random >= 100 and finding.rewritten == 240
    assert "look encrypted" in finding.reasons[0]
    detector.reset()
    ATTACKS["ransom notes"](Files(tmp_path, detector, clock))
    finding = settle(detector, clock)
    assert finding is not None and finding.reasons == ("ransom-note names appeared in 8 folders",)


def test_damage_spread_beyond_the_window_is_no_incident(tmp_path: Path) -> None:
    """A document rewritten with random bytes now and then (an encrypted archive saved as .txt, say) stays
    below the thresholds: the window forgets what is older than it."""
    make_docs(Files(tmp_path))
    clock = Clock()
    detector = Detector(Thresholds(), clock)
    files = Files(tmp_path, detector, clock)
    for rel in [r for r in os.listdir(tmp_path / "Documents" / "part0")][:30]:
        files.rewrite(f"Documents/part0/{rel}", files.random(3000))
        assert settle(detector, clock) is None
        clock.now += 15  # two files a window at most
    assert len(detector.random) <= 10


def test_a_burst_of_any_size_reads_a_bounded_sample(tmp_path: Path) -> None:
    """3,000 rewritten text files: at most `samples` are read, each at most once (bench/guard_burst.py times
    10,000)."""
    clock = Clock()
    reads: list[bytes] = []
    detector = Detector(Thresholds(samples=200), clock, counting_sampler(reads))
    files = Files(tmp_path, None, clock)
    for i in range(3000):
        files.create(f"d{i % 50}/f{i}.txt", files.text(2000, seed=i))
    files.detector = detector
    for i in range(3000):
        files.rewrite(f"d{i % 50}/f{i}.txt", files.text(2000, seed=i + 1))
    assert settle(detector, clock) is None
    assert len(reads) == 200 == len(set(reads))
    assert detector.seen == 6000 and len(detector.rewritten) == 3000


def test_a_file_being_written_is_sampled_once_it_is_quiet(tmp_path: Path) -> None:
    clock = Clock()
    reads: list[bytes] = []
    detector = Detector(Thresholds(), clock, counting_sampler(reads))
    files = Files(tmp_path, None, clock)
    files.create("a.txt", b"hello\n" * 100)
    files.detector = detector
    files.rewrite("a.txt", b"hello again\n" * 100)
    detector.look()
    assert reads == []
    clock.now += 0.5
    files.rewrite("a.txt", b"and again\n" * 100)  # still being written
    clock.now += 0.9
    detector.look()
    assert reads == []
    clock.now += 0.2
    detector.look()
    assert reads == [os.fsencode(tmp_path / "a.txt")]


def test_samples_are_judged_by_type(tmp_path: Path) -> None:
    text = b"The quick brown fox jumps over the lazy dog.\n" * 100
    noise = os.urandom(8192)
    assert entropy(text) < 5 and entropy(noise) > 7.9 and entropy(b"") == 0
    assert looks_random(noise) and not looks_random(text) and not looks_random(noise[:32])
    assert damaged_looking(b"/a/report.txt", noise, b"") and not damaged_looking(b"/a/report.txt", text, b"")
    assert damaged_looking(b"/a/report.docx", noise, b"")
    assert not damaged_looking(b"/a/report.docx", b"PK\x03\x04" + noise[4:], b"")
    assert not damaged_looking(b"/a/photo.JPG", b"\xff\xd8\xff\xe0" + noise[4:], b"")
    assert not damaged_looking(b"/a/blob.bin", noise, b"")  # a type the guard does not know is never judged


def test_a_sample_reads_head_and_tail_only(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with open(big, "wb") as out:
        out.write(b"H" * 4096)
        out.truncate(1 << 30)  # a sparse GiB: reading it whole would be noticed
        out.seek((1 << 30) - 4096)
        out.write(b"T" * 4096)
    assert read_sample(os.fsencode(big)) == (b"H" * 4096, b"T" * 4096)
    assert read_sample(os.fsencode(tmp_path / "gone.txt")) is None


def test_thresholds_come_from_settings(caplog: pytest.LogCaptureFixture) -> None:
    assert thresholds_from({}) == Thresholds()
    assert thresholds_from({"guard": {"enabled": False, "random_files": 5, "window_seconds": 30.5}}) == \
        Thresholds(enabled=False, random_files=5, window_seconds=30.5)
    for wrong in ({"guard": []}, {"guard": {"enabled": "yes"}}, {"guard": {"random_files": True}}):
        with pytest.raises(UsageError, match="guard"):
            thresholds_from(wrong)
    assert thresholds_or_defaults({"guard": {"note_folders": "three"}}) == Thresholds()
    assert "guard.note_folders must be a number" in caplog.text
