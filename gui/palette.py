"""Colours for what the app draws itself (change markers, deleted rows, the timeline), from the palette.

A fixed colour reads on one background only. These start from the palette's roles, and where a hue carries
meaning (green new, amber changed, violet metadata) they take the shade that stands out on the palette's base,
so light and dark desktops both read. Meaning is never in the colour alone: markers also have a letter.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette

# meaning -> (shade on a light base, shade on a dark base)
MARK_SHADES = {"new": ("#1d7a45", "#6fd49b"), "changed": ("#a35c00", "#f2b24c"),
               "metadata": ("#6a4fb0", "#b9a4f0"), "error": ("#b3261e", "#ff8a80")}
# a compare dialog's line tag -> (light tint, dark tint) behind the palette's own text colour
DIFF_TINTS = {"replace": ("#f3d98b", "#5a4716"), "delete": ("#f2b8b5", "#62282a"), "insert": ("#b7e1c1", "#1f4d2e")}
MIN_CONTRAST = 4.5  # WCAG AA for text
FADED_CONTRAST = 3.0  # greyed out, yet still readable


def current() -> QPalette:
    return QGuiApplication.palette()


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def mark_colour(change: str, palette: QPalette) -> QColor:
    """The marker's colour for a change kind (or "error"); deleted rows take the palette's disabled text."""
    if change == "deleted":
        return faded_text(palette)
    light, dark = MARK_SHADES[change]
    return readable(QColor(dark if is_dark(palette) else light), palette.color(QPalette.ColorRole.Base))


def message_style(palette: QPalette, error: bool) -> str:
    """A dialog's message line: the error colour for what went wrong, plain text for what is going on."""
    colour = mark_colour("error", palette) if error else palette.color(QPalette.ColorRole.WindowText)
    return f"color: {colour.name()}"


def diff_tint(tag: str, palette: QPalette) -> QColor:
    light, dark = DIFF_TINTS[tag]
    return QColor(dark if is_dark(palette) else light)


def faded_text(palette: QPalette) -> QColor:
    """Greyed-out text (deleted rows): the theme's disabled text, darkened or lightened if it is too faint
    to read (a light theme's often is)."""
    return readable(palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text),
                    palette.color(QPalette.ColorRole.Base), FADED_CONTRAST)


def accent(palette: QPalette) -> QColor:
    """The timeline's accent (Now, the handle): the palette's highlight, made readable as text on the
    window's colour if the theme's highlight is too close to it."""
    return readable(palette.color(QPalette.ColorRole.Highlight), palette.color(QPalette.ColorRole.Window))


def luminance(colour: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable(colour: QColor, background: QColor, minimum: float = MIN_CONTRAST) -> QColor:
    """`colour`, lightened on a dark background or darkened on a light one until it reads as text."""
    dark_background = background.lightness() < 128
    shade = QColor(colour)
    for _ in range(12):
        if contrast(shade, background) >= minimum:
            break
        shade = shade.lighter(115) if dark_background else shade.darker(115)
    return shade


def marked_tick(palette: QPalette) -> QColor:
    """Ticks of the snapshots where the selected file changed: the 'changed' marker's shade."""
    return mark_colour("changed", palette)


def range_band(palette: QPalette) -> QColor:
    """The band behind a range chosen on the timeline: the highlight, faint enough for the ticks to show."""
    band = QColor(palette.color(QPalette.ColorRole.Highlight))
    band.setAlpha(120 if is_dark(palette) else 70)  # a dark window's highlight fades into it sooner
    return band
