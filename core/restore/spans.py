"""Which frames a restore reads together: neighbouring frames of one pack become one ranged read.

On a bucket every read is a request and a round trip, and a file's frames usually lie one after another in
a pack, so reading them frame by frame costs a request per ~600 KiB. A span gathers the frames of one pack
that the plan uses one after another, up to a bound that keeps memory flat, and reads them in runs that
take small gaps between frames along (read and thrown away). Pure: no I/O, so it is tested with tables.
"""

from __future__ import annotations

from dataclasses import dataclass

Frame = tuple[str, int, int]  # pack, offset, stored length

MAX_GAP = 256 << 10  # bytes of frames not needed that a span may read through rather than start another
MAX_SPAN = 8 << 20  # stored bytes one read may fetch
MAX_FRAMES = 16  # frames in one span: with frames of at most 1 MiB raw, a span decodes to at most 16 MiB


@dataclass(frozen=True)
class SpanLimits:
    """How far a span may reach; `one_frame()` keeps every frame its own read (a drive, where reads are
    cheap system calls and a larger one would only copy more)."""

    max_gap: int = MAX_GAP
    max_span: int = MAX_SPAN
    max_frames: int = MAX_FRAMES

    @staticmethod
    def one_frame() -> SpanLimits:
        return SpanLimits(0, 0, 1)


OPEN_SPANS = 2  # a frame may join the latest span of its pack while at most one other span began after it


@dataclass(frozen=True)
class Span:
    """Frames of `pack`, fetched by the ranged reads `ranges` ([start, end) each, in pack order); `uses` are
    the positions in the plan's list of frames that it serves, in order."""

    pack: str
    ranges: tuple[tuple[int, int], ...]
    frames: tuple[Frame, ...]
    uses: tuple[int, ...]


def spans(frames: list[Frame], limits: SpanLimits) -> list[Span]:
    """The frames, in their order, gathered into spans: a frame joins a span of its pack that began among the
    last `OPEN_SPANS` (so a run of one pack's frames survives a frame from another between, such as the one
    frame of zeros a disk image keeps coming back to) while the span still reaches over at most `max_span`
    bytes and `max_frames` frames. A pack's frames need not lie in the order a file uses them (they are
    compressed in parallel and stored as they finish), so a span's frames are sorted by place and read in
    runs, a new run where more than `max_gap` lies between."""
    groups: list[tuple[list[Frame], list[int]]] = []
    for use, frame in enumerate(frames):
        group = next((g for g in reversed(groups[-OPEN_SPANS:]) if _joins(g[0], frame, limits)), None)
        if group is None:
            groups.append(([frame], [use]))
        else:
            group[0].append(frame)
            group[1].append(use)
    return [Span(members[0][0], _runs(members, limits.max_gap), tuple(members), tuple(uses))
            for members, uses in groups]


def _joins(members: list[Frame], frame: Frame, limits: SpanLimits) -> bool:
    pack, offset, length = frame
    if members[0][0] != pack or len(members) >= limits.max_frames:
        return False
    low = min(offset, *(f[1] for f in members))
    high = max(offset + length, *(f[1] + f[2] for f in members))
    return high - low <= limits.max_span


def _runs(frames: list[Frame], max_gap: int) -> tuple[tuple[int, int], ...]:
    runs: list[tuple[int, int]] = []
    for _, offset, length in sorted(set(frames), key=lambda f: f[1]):
        if runs and offset <= runs[-1][1] + max_gap:
            runs[-1] = (runs[-1][0], max(runs[-1][1], offset + length))
        else:
            runs.append((offset, offset + length))
    return tuple(runs)
