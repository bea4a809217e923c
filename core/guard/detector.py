"""The detector: a sliding window over the watcher's events that recognises the shape of mass damage.

Fed on the observer thread (`saw`, an append and nothing more) and judged on the agent's tick (`look`). Each
event is classified at once: a file *rewritten* (modified while it existed before the window saw it created,
or created again right after being deleted, as git does, or replaced by a rename of a file just written), a
file *arrived* (new: a build's objects, an import's photos), a file *gone*, a *suffix gained* (a.doc →
a.doc.locked by a rename, or a.doc.locked written and a.doc deleted), a ransom-note name. Rewritten files of
a type the guard can judge are sampled (head and tail, `timekeep.core.guard.sample`) once quiet, up to a
budget per window, so a burst of any size costs a bounded amount of reading.

Three findings make an incident (thresholds in `timekeep.core.guard.thresholds`): many rewritten files
became random-looking and they are most of those sampled; many files gained the same new suffix while
their originals went away; ransom-note names appeared in several folders.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from timekeep.core.guard.notes import is_note, note_patterns
from timekeep.core.guard.sample import damaged_looking, judged, read_sample, split_suffix, suffix_of
from timekeep.core.guard.thresholds import Thresholds

Table = dict[bytes, float]


@dataclass(frozen=True)
class Finding:
    """What the window holds when it looks like mass damage."""

    reasons: tuple[str, ...]
    started: float  # the detector's clock at the earliest event that counted
    paths: frozenset[bytes]  # the files (and note folders) that counted
    touched: frozenset[bytes]  # every file rewritten, gone or new since: none is stored as "before"
    rewritten: int  # files rewritten within the window
    sampled: int
    random: int


class Detector:
    def __init__(self, thresholds: Thresholds, clock: Callable[[], float],
                 sampler: Callable[[bytes], tuple[bytes, bytes] | None] = read_sample) -> None:
        self.thresholds, self.clock, self.sampler = thresholds, clock, sampler
        self.notes = note_patterns()
        self._raw: deque[tuple[float, str, bytes, bytes | None]] = deque()  # appended by the observer thread
        self.seen = 0  # events classified so far (tests wait on it)
        self.reset()

    def reset(self) -> None:
        """Forget the window (after an incident is cleared: what triggered it must not trigger it again)."""
        self._order: deque[tuple[float, Table, bytes]] = deque()
        self.created: Table = {}
        self.deleted: Table = {}
        self.rewritten: Table = {}
        self.sampled: Table = {}
        self.random: Table = {}
        self.note_folders: Table = {}
        self.fresh: Table = {}  # a.doc -> when a.doc.<suffix> arrived while a.doc still existed
        self.fresh_suffix: dict[bytes, str] = {}
        self.gains: dict[str, Table] = {}  # suffix -> files that gained it
        self.pending: Table = {}  # rewritten, waiting to be quiet before they are sampled

    # the observer thread
    def saw(self, kind: str, src: bytes, dest: bytes | None, is_dir: bool) -> None:
        """One watchdog event (its type, paths): recorded for the next `look`; folders' own events say nothing."""
        if not is_dir:
            self._raw.append((self.clock(), kind, src, dest))

    def busy(self) -> bool:
        """Whether events wait to be classified or rewritten files to be sampled."""
        return bool(self._raw or self.pending)

    # the agent's tick
    def look(self) -> Finding | None:
        """Classify what arrived, let the window slide, sample what settled; a Finding if it looks like damage."""
        while self._raw:
            self._classify(*self._raw.popleft())
        now = self.clock()
        self._expire(now - self.thresholds.window_seconds)
        self._sample(now)
        return self._judge()

    def _classify(self, t: float, kind: str, src: bytes, dest: bytes | None) -> None:
        self.seen += 1
        if kind == "created":
            self._arrived(t, src)
        elif kind in ("modified", "closed"):
            if src not in self.created:
                self._rewrote(t, src)
        elif kind == "deleted":
            self._gone(t, src)
        elif kind == "moved" and dest is not None:
            written_just_now = src in self.created
            self._gone(t, src)
            if written_just_now:  # a file written aside, then renamed over its target: a rewrite of it
                self._rewrote(t, dest)
            else:
                self._arrived(t, dest)
                self._renamed(t, src, dest)

    def _arrived(self, t: float, path: bytes) -> None:
        if path in self.deleted:  # deleted and written again: a rewrite (git checkout does it this way)
            self._rewrote(t, path)
            return
        self._put(self.created, path, t)
        if is_note(self.notes, path):
            self._put(self.note_folders, os.path.dirname(path), t)
        stem, suffix = split_suffix(path)
        if suffix:
            if stem in self.deleted:
                self._gained(t, suffix, path)
            elif suffix_of(stem):  # a.doc.locked beside a.doc: counts once a.doc goes
                self._put(self.fresh, stem, t)
                self.fresh_suffix[stem] = suffix

    def _gone(self, t: float, path: bytes) -> None:
        self._put(self.deleted, path, t)
        self.created.pop(path, None)
        suffix = self.fresh_suffix.get(path)
        if path in self.fresh and suffix is not None:
            self._gained(t, suffix, path + os.fsencode(suffix))

    def _renamed(self, t: float, src: bytes, dest: bytes) -> None:
        """a.doc → a.doc.locked or a.doc → a.crypt: the new suffix counts; a.txt → b.txt does not."""
        stem, suffix = split_suffix(dest)
        if not suffix or os.path.dirname(src) != os.path.dirname(dest):
            return
        src_stem, old = split_suffix(src)
        if stem == src or (old and stem == src_stem and suffix != old):
            self._gained(t, suffix, dest)

    def _rewrote(self, t: float, path: bytes) -> None:
        if path not in self.rewritten:  # the first time counts: the burst began then
            self._put(self.rewritten, path, t)
        if path not in self.sampled and judged(path):
            self.pending[path] = t

    def _gained(self, t: float, suffix: str, path: bytes) -> None:
        """A suffix the guard can judge counts only if the content does not fit it: `gzip` turning a.txt into
        a.txt.gz, or photos renamed from .jpeg to .jpg, are no damage (within the sampling budget)."""
        if judged(path):
            if len(self.sampled) >= self.thresholds.samples:
                return
            got = self.sampler(path)
            if got is None:
                return
            self._put(self.sampled, path, t)
            if not damaged_looking(path, *got):
                return
        self._put(self.gains.setdefault(suffix, {}), path, t)

    def _put(self, table: Table, key: bytes, t: float) -> None:
        table[key] = t
        self._order.append((t, table, key))

    def _expire(self, cutoff: float) -> None:
        while self._order and self._order[0][0] < cutoff:
            t, table, key = self._order.popleft()
            if table.get(key) == t:
                del table[key]
                if table is self.fresh:
                    self.fresh_suffix.pop(key, None)
        for suffix in [s for s, table in self.gains.items() if not table]:
            del self.gains[suffix]

    def _sample(self, now: float) -> None:
        settle = self.thresholds.settle_seconds
        ready = [p for p, t in self.pending.items() if now - t >= settle]
        for path in ready:
            del self.pending[path]
            if len(self.sampled) >= self.thresholds.samples:
                continue  # enough evidence in this window: the rest are not read
            got = self.sampler(path)
            if got is None:
                continue
            self._put(self.sampled, path, now)
            if damaged_looking(path, *got):
                self._put(self.random, path, now)

    def _judge(self) -> Finding | None:
        limits, reasons = self.thresholds, []
        counted: dict[bytes, float] = {}
        random, sampled = len(self.random), len(self.sampled)
        if random >= limits.random_files and random >= limits.random_share * sampled:
            reasons.append(f"{random} of {sampled} rewritten files sampled now look encrypted "
                           f"({len(self.rewritten)} rewritten in {limits.window_seconds:g} s)")
            counted.update({p: self.rewritten.get(p, t) for p, t in self.random.items()})
        suffix, gained = max(self.gains.items(), key=lambda item: len(item[1]), default=("", {}))
        if len(gained) >= limits.extension_files:
            reasons.append(f"{len(gained)} files gained the suffix {suffix} while their originals went away")
            counted.update(gained)
        if len(self.note_folders) >= limits.note_folders:
            reasons.append(f"ransom-note names appeared in {len(self.note_folders)} folders")
            counted.update(self.note_folders)
        if not reasons:
            return None
        # The burst began at the first file rewritten, deleted or renamed away in the window, whether or not
        # that file was judged: what came before it is the state "just before" (timekeep.core.guard.before).
        started = min([*counted.values(), *self.rewritten.values(), *self.deleted.values()])
        arrived = (p for p, t in self.created.items() if t >= started)
        touched = frozenset().union(self.rewritten, self.deleted, arrived, *self.gains.values())
        return Finding(tuple(reasons), started, frozenset(counted), touched, len(self.rewritten), sampled, random)
