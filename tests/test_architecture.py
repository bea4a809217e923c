"""The engine never depends on Qt or on the GUI (STYLE.md): checked on the source, not hoped for."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).parent.parent / "core"
FORBIDDEN = ("PySide6", "gui", "shiboken6")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_neither_qt_nor_gui() -> None:
    offenders = {
        str(path.relative_to(CORE.parent)): name
        for path in CORE.rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    }
    assert offenders == {}


def test_core_files_stay_small() -> None:
    sizes = {str(p.relative_to(CORE.parent)): len(p.read_text().splitlines()) for p in CORE.rglob("*.py")}
    assert sizes and max(sizes.values()) <= 600, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
