"""The shape of the house, checked on the source rather than hoped for: the engine never depends on Qt or on
the GUI; the GUI and the CLI come in through one door; the storage wing reads the drive without the index;
comments point inside the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
CORE = ROOT / "core"
FORBIDDEN = ("PySide6", "gui", "shiboken6")
# what the GUI and the CLI may import of the engine: the facade, its plain records and errors, the agent's
# typed client and its door, and the pure path helpers
THE_DOOR = ("core.api", "core.types", "core.errors", "core.paths", "core.agent.client", "core.agent.messages",
            "core.agent.launch")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # a module or a name in one
    return names


def offenders(folder: Path, allowed: tuple[str, ...], within: str = "core") -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in folder.rglob("*.py"):
        bad = sorted(name for name in imported_modules(path)
                     if name.split(".")[0] == within and name != "core.__version__"
                     and not any(name == a or name.startswith(a + ".") for a in allowed))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_core_imports_neither_qt_nor_gui() -> None:
    bad = {str(path.relative_to(ROOT)): name for path in CORE.rglob("*.py") for name in imported_modules(path)
           if name.split(".")[0] in FORBIDDEN}
    assert bad == {}


def test_the_gui_and_the_cli_come_in_through_the_door() -> None:
    """Everything the window and the command line do to a repository goes through core.api (and the agent's
    client): the engine's wings stay free to change behind it."""
    assert offenders(ROOT / "gui", THE_DOOR) == {}
    assert offenders(CORE / "cli", (*THE_DOOR, "core.cli")) == {}


def test_storage_reads_the_drive_without_the_index() -> None:
    """The layers point one way: storage (the on-drive format) never imports the index, capture, restore or
    the coalescer, so the drive can always be read without them."""
    above = ("core.index", "core.capture", "core.restore", "core.coalesce", "core.api", "core.repository")
    bad = {str(p.relative_to(ROOT)): sorted(n for n in imported_modules(p) if n.startswith(above))
           for p in (CORE / "storage").rglob("*.py")}
    assert {k: v for k, v in bad.items() if v} == {}


def test_comments_point_inside_the_repository() -> None:
    """A reader of the project cannot follow DESIGN.md, STYLE.md or claim numbers: they are not in it."""
    pattern = re.compile(r"DESIGN\.md|STYLE\.md|DESIGN §|\bclaims? \d")
    cited = [f"{p.relative_to(ROOT)}:{n}" for folder in (CORE, ROOT / "gui") for p in folder.rglob("*.py")
             for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert cited == []


def test_core_files_stay_small() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in CORE.rglob("*.py")}
    assert sizes and max(sizes.values()) <= 600, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
