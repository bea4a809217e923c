"""The preview pane: the selected file as it was at T — text, an image, a PDF's first page, or hex.

It only draws what a worker prepared (`PreviewData`); it never reads a file itself. Moving through time with
a file selected loads its preview again at each moment; when the content is the one already on the page (the
same digest), the page is kept as it is: setting half a megabyte of text again costs the GUI thread a tenth of
a second, and the person keeps their place in it.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontDatabase, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from timekeep.gui import wording
from timekeep.gui.preview_data import PreviewData, hex_dump


class ImageView(QLabel):
    """Shows an image scaled to fit, never enlarged past its own size, re-scaled as the pane resizes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(64, 64)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self._rescale()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self.image is None or self.image.isNull():
            self.clear()
            return
        box = self.size().boundedTo(self.image.size()).expandedTo(QSize(1, 1))
        ratio = self.devicePixelRatioF()
        scaled = self.image.scaled(box * ratio, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        pixmap = QPixmap.fromImage(scaled)
        pixmap.setDevicePixelRatio(ratio)
        self.setPixmap(pixmap)


def _doubt_label() -> QLabel:
    """Above the preview, set apart, when a lost snapshot came between: the version shown may be older."""
    label = QLabel()
    label.setObjectName("preview_doubt")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("#preview_doubt { background: palette(alternate-base); border-left: 3px solid #b9770e;"
                        " padding: 4px 6px; }")
    label.setAccessibleName("Preview warning")
    label.hide()
    return label


def _monospace_view(name: str) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    view.setAccessibleName(name)
    return view


class PreviewPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.current: PreviewData | None = None
        self._on_page: PreviewData | None = None  # what the text, hex or image page holds now
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.doubt = _doubt_label()
        self.message = QLabel("Select a file to see it as it was")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.text_view = _monospace_view("Text preview")
        self.text_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)  # prose reads whole; hex keeps rows
        self.hex_view = _monospace_view("Hex view")
        self.image_view = ImageView()
        self.image_view.setAccessibleName("Image preview")
        self.stack = QStackedWidget()
        for page in (self.message, self.text_view, self.hex_view, self.image_view):
            self.stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.details)
        layout.addWidget(self.doubt)
        layout.addWidget(self.stack, 1)
        self.setAccessibleName("Preview")

    def show_message(self, text: str) -> None:
        self.current = None
        self.title.clear()
        self.details.clear()
        self.details.setToolTip("")
        self.doubt.hide()
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def show_failure(self, path: bytes, message: str) -> None:
        name = wording.display_name(path)
        self.show_message(f"{name} cannot be shown: {message}")
        self.title.setText(f"<b>{_escape(name)}</b>")

    def show_loading(self, path: bytes) -> None:
        """Say the file is loading; the same file's page stays in view meanwhile (it is likely unchanged)."""
        self.current = None
        self.title.setText(f"<b>{_escape(wording.display_name(path))}</b>")
        self.details.setText("Loading…")
        self.doubt.hide()
        if self._on_page is None or self._on_page.path != path or self.stack.currentWidget() is self.message:
            self.stack.setCurrentWidget(self.message)
            self.message.setText("")

    def show_preview(self, data: PreviewData, at_ns: int | None = None) -> None:
        """Show a worker's preview; `at_ns` is the snapshot's time (None: the live file)."""
        self.current = data
        self.title.setText(f"<b>{_escape(wording.display_name(data.path))}</b>")
        self.details.setText(_details(data, at_ns))
        self.details.setToolTip(fingerprint(data))
        self.doubt.setText(f"<b>This may not be how it was</b>: {_escape(data.doubt)}" if data.doubt else "")
        self.doubt.setVisible(bool(data.doubt))
        page = {"text": self.text_view, "image": self.image_view, "pdf": self.image_view, "binary": self.hex_view}
        if data.kind in page and not self._holds(data):
            self._on_page = data
            if data.kind == "text":
                self.text_view.setPlainText(data.text)
            elif data.kind == "binary":
                self.hex_view.setPlainText(hex_dump(data.head))
            else:
                self.image_view.set_image(data.image)
        if data.kind in page:
            self.stack.setCurrentWidget(page[data.kind])
        else:
            self.message.setText(_placeholder(data))
            self.stack.setCurrentWidget(self.message)

    def _holds(self, data: PreviewData) -> bool:
        """Whether the page already shows exactly this content (the same file's bytes, by digest)."""
        held = self._on_page
        return (held is not None and held.path == data.path and held.kind == data.kind and held.digest is not None
                and held.digest == data.digest and held.text == data.text and held.head == data.head)

    def shown_text(self) -> str:
        """What the pane shows as text (text or hex), for tests and screen readers."""
        page = self.stack.currentWidget()
        if isinstance(page, QPlainTextEdit):
            return page.toPlainText()
        return self.message.text()


def _details(data: PreviewData, at_ns: int | None) -> str:
    parts = ["Now, on this computer" if at_ns is None else f"As it was on {wording.when(at_ns)}"]
    if data.kind not in ("folder", "symlink"):
        parts.append(wording.size(data.size))
    if data.kind == "pdf":
        parts.append("first page")
    if data.note:
        parts.append(data.note)
    return " · ".join(parts)


def fingerprint(data: PreviewData) -> str:
    """The whole file's content digest, for comparing copies by hand: in the details' tooltip, not the header."""
    return f"Content fingerprint (BLAKE3):\n{data.digest}" if data.digest else ""


def _placeholder(data: PreviewData) -> str:
    if data.kind == "folder":
        return "A folder: its contents are listed on the left"
    if data.kind == "symlink":
        return f"A link to {data.text}"
    return "An empty file"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
