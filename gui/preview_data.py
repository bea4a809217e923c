"""Build a file's preview at T in a worker: its head, its size and BLAKE3 digest, and what kind of thing it is.

The version is streamed through a sink that hashes every byte but keeps only a head, so a 2 GB file costs
no more memory than a small one. When the person has moved on (the request is stale) the sink stops the
stream early. Images are decoded here (QImage is safe off the GUI thread); PDFs get their first page
rendered when QtPdf is importable.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import blake3
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize
from PySide6.QtGui import QImage

from timekeep.core import units
from timekeep.core.api import Timekeep
from timekeep.gui.workers import Superseded

KEEP_BYTES = 32 * 1024 * 1024  # enough for photos and PDFs to be shown whole
TEXT_BYTES = 500_000  # more text than anyone reads in a preview
DIGEST_LIMIT = 512 * 1024 * 1024  # beyond this the digest would take seconds; the head is enough to preview
IMAGE_SUFFIXES = {b".png", b".jpg", b".jpeg", b".gif", b".bmp", b".webp", b".svg", b".ico", b".tif", b".tiff"}
Kind = Literal["text", "image", "pdf", "binary", "folder", "symlink", "empty"]


class Abandoned(Superseded):
    """Raised from the sink when nobody wants this preview any more."""


@dataclass(frozen=True)
class PreviewData:
    path: bytes
    snapshot_id: int | None  # None: the live file
    kind: Kind
    size: int
    digest: str | None  # hex BLAKE3 of the whole file, None when not computed
    head: bytes = b""
    text: str = ""
    image: QImage | None = None
    note: str = ""  # e.g. "the first 500 kB are shown"
    doubt: str | None = None  # why this version may not be how the file was (a lost snapshot came between)


class HeadAndDigest:
    """A write-only stream: hashes everything, keeps the first `keep` bytes."""

    def __init__(self, keep: int, digest: bool, still_wanted: Callable[[], bool]) -> None:
        self.keep, self.want_digest, self.still_wanted = keep, digest, still_wanted
        self.hasher = blake3.blake3()
        self.head = bytearray()

    def write(self, data: bytes) -> int:
        if not self.still_wanted():
            raise Abandoned
        if len(self.head) < self.keep:
            self.head += data[: self.keep - len(self.head)]
        if self.want_digest:
            self.hasher.update(data)
        elif len(self.head) >= self.keep:
            raise Abandoned  # the head is all we need and the digest was not asked for
        return len(data)

    def digest(self) -> str | None:
        return self.hasher.hexdigest() if self.want_digest else None


def stored_preview(tk: Timekeep, path: bytes, snapshot_id: int, still_wanted: Callable[[], bool]) -> PreviewData:
    plan = tk.plan(path, snapshot_id)
    if plan.kind != "file":
        return replace(_not_a_file(path, snapshot_id, plan.kind, plan.link_target), doubt=plan.doubt)
    sink = HeadAndDigest(KEEP_BYTES, plan.size <= DIGEST_LIMIT, still_wanted)
    try:
        tk.write_version(plan, sink)  # type: ignore[arg-type]  # only write() is used
    except Abandoned:
        if not still_wanted():
            raise  # stale: the worker reports it and the window drops it
    return replace(describe(path, snapshot_id, bytes(sink.head), plan.size, sink.digest()), doubt=plan.doubt)


def live_preview(path: bytes, still_wanted: Callable[[], bool]) -> PreviewData:
    """The file as it is on disk now (the timeline's right end)."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return _not_a_file(path, None, "symlink", os.readlink(path))
    if not stat.S_ISREG(st.st_mode):
        return _not_a_file(path, None, "dir", None)
    sink = HeadAndDigest(KEEP_BYTES, st.st_size <= DIGEST_LIMIT, still_wanted)
    with open(path, "rb") as fh:
        try:
            while block := fh.read(1 << 20):
                sink.write(block)
        except Abandoned:
            if not still_wanted():
                raise
    return describe(path, None, bytes(sink.head), st.st_size, sink.digest())


def _not_a_file(path: bytes, snapshot_id: int | None, kind: str, target: bytes | None) -> PreviewData:
    if kind == "symlink":
        return PreviewData(path, snapshot_id, "symlink", 0, None, text=(target or b"").decode("utf-8", "replace"))
    return PreviewData(path, snapshot_id, "folder", 0, None)


def describe(path: bytes, snapshot_id: int | None, head: bytes, size: int, digest: str | None) -> PreviewData:
    """Decide how to show the bytes: text, image, PDF page, or hex."""
    base = PreviewData(path, snapshot_id, "binary", size, digest, head[:4096])
    if size == 0:
        return PreviewData(path, snapshot_id, "empty", 0, digest)
    complete = len(head) >= size
    image = _image(path, head) if complete else None
    if image is not None:
        return PreviewData(path, snapshot_id, "image", size, digest, image=image)
    if head.startswith(b"%PDF") and complete:
        page = pdf_first_page(head)
        if page is not None:
            return PreviewData(path, snapshot_id, "pdf", size, digest, image=page)
    text = as_text(head[:TEXT_BYTES], complete and size <= TEXT_BYTES)
    if text is not None:
        note = "" if size <= TEXT_BYTES else f"the first {units.size(TEXT_BYTES)} are shown"
        return PreviewData(path, snapshot_id, "text", size, digest, text=text, note=note)
    return base


def as_text(data: bytes, complete: bool) -> str | None:
    """UTF-8 text without NULs (a cut-off character at the end of a partial head is allowed), else None."""
    if b"\x00" in data[:65536]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        if not complete and err.start >= len(data) - 3:
            return data[: err.start].decode("utf-8")
        return None


def _image(path: bytes, head: bytes) -> QImage | None:
    if os.path.splitext(path)[1].lower() not in IMAGE_SUFFIXES and not _looks_like_image(head):
        return None
    image = QImage.fromData(QByteArray(head))
    return None if image.isNull() else image


def _looks_like_image(head: bytes) -> bool:
    return head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM"))


def pdf_first_page(data: bytes, width: int = 900) -> QImage | None:
    """The first page as an image, or None when QtPdf is missing or cannot read the file."""
    try:
        from PySide6.QtPdf import QPdfDocument
    except ImportError:
        return None
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    document = QPdfDocument()
    document.load(buffer)
    if document.status() != QPdfDocument.Status.Ready or document.pageCount() < 1:
        return None
    page = document.pagePointSize(0)
    height = int(width * page.height() / page.width()) if page.width() > 0 else width
    image = document.render(0, QSize(width, height))
    document.close()
    return None if image.isNull() else image


def hex_dump(data: bytes, width: int = 16) -> str:
    """Offset, hex bytes and printable characters, like `hexdump -C`."""
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        hexes = " ".join(f"{b:02x}" for b in chunk).ljust(width * 3 - 1)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes}  |{text}|")
    return "\n".join(lines)
