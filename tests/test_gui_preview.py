"""Previews built from the real engine: text, a scaled image, a PDF's first page, hex with size and digest,
and a stale request stopping early."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage, QPainter, QPdfWriter

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.gui.preview_data import Abandoned, hex_dump, stored_preview
from timekeep.gui.widgets.preview import PreviewPane


def png_bytes() -> bytes:
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(QColor("#3366cc"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def pdf_bytes() -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    painter = QPainter(writer)
    painter.drawText(200, 200, "page one")
    painter.end()
    buffer.close()
    return bytes(data.data())


@pytest.fixture
def stored(qapp, tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "home" / "files"
    binary = os.urandom(5000)
    make_tree(folder, {"a.txt": "héllo\n".encode(), "pic.png": png_bytes(), "doc.pdf": pdf_bytes(), "blob": binary})
    repo = new_repo(tmp_path, folder)
    sid = backup(repo)
    with Timekeep.open(repo) as tk:
        yield tk, folder, sid, binary


def test_each_kind_of_file_previews(stored) -> None:  # type: ignore[no-untyped-def]
    tk, folder, sid, binary = stored
    pane = PreviewPane()
    text = stored_preview(tk, os.fsencode(folder / "a.txt"), sid, lambda: True)
    assert (text.kind, text.text) == ("text", "héllo\n")
    image = stored_preview(tk, os.fsencode(folder / "pic.png"), sid, lambda: True)
    assert image.kind == "image" and image.image.size().width() == 40
    pdf = stored_preview(tk, os.fsencode(folder / "doc.pdf"), sid, lambda: True)
    assert pdf.kind == "pdf" and not pdf.image.isNull()
    blob = stored_preview(tk, os.fsencode(folder / "blob"), sid, lambda: True)
    assert (blob.kind, blob.size, blob.digest) == ("binary", 5000, blake3.blake3(binary).hexdigest())
    pane.show_preview(blob, sid)
    assert pane.shown_text() == hex_dump(binary[:4096])
    assert blob.digest not in pane.details.text() and "5.0 kB" in pane.details.text()  # no digest in the header
    assert pane.details.toolTip() == f"Content fingerprint (BLAKE3):\n{blob.digest}"
    pane.show_preview(image, sid)
    assert pane.stack.currentWidget() is pane.image_view


def test_a_preview_nobody_wants_stops(stored) -> None:  # type: ignore[no-untyped-def]
    tk, folder, sid, _binary = stored
    with pytest.raises(Abandoned):
        stored_preview(tk, os.fsencode(folder / "blob"), sid, lambda: False)


def test_the_same_content_at_another_moment_keeps_the_page_and_the_place_in_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    """Moving through time with a long text selected: where its bytes did not change, the page stays as it is
    (the person's place in it too) instead of being filled again; new bytes replace it."""
    from timekeep.gui.preview_data import PreviewData

    pane = PreviewPane()
    qtbot.addWidget(pane)
    pane.resize(400, 300)
    pane.show()
    text = "".join(f"line {i}\n" for i in range(2000))
    digest = blake3.blake3(text.encode()).hexdigest()
    pane.show_preview(PreviewData(b"/d/long.txt", 1, "text", len(text), digest, text=text), 0)
    bar = pane.text_view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    place = bar.value()
    assert place > 0
    pane.show_loading(b"/d/long.txt")
    assert pane.stack.currentWidget() is pane.text_view and pane.current is None  # still in view while loading
    pane.show_preview(PreviewData(b"/d/long.txt", 2, "text", len(text), digest, text=text), 10**9)
    assert bar.value() == place and pane.current is not None and pane.current.snapshot_id == 2
    changed = text + "one more line\n"
    pane.show_loading(b"/d/long.txt")
    pane.show_preview(PreviewData(b"/d/long.txt", 3, "text", len(changed), blake3.blake3(changed.encode()).hexdigest(),
                                  text=changed), 2 * 10**9)
    assert pane.shown_text() == changed and bar.value() == 0  # new bytes: the page filled again, from the top
    pane.show_loading(b"/d/other.txt")
    assert pane.stack.currentWidget() is pane.message  # another file: nothing of the last one stays in view
