"""What the command line and the engine say to a person is in plain words: no "storage time" or "is a dir",
counts with their noun in the right number."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_cli import Cli
from tests.test_cli import cli as cli
from timekeep.core.cli.thin import describe
from timekeep.core.types import Retention

ROOT = Path(__file__).resolve().parents[1]
SPOKEN = [*sorted((ROOT / "core" / "cli").glob("*.py")),
          *(ROOT / "core" / f"{name}.py" for name in ("errors", "browsing", "restoring", "storing"))]
JARGON = ("storage time", "is a dir", "manifest", "changed paths", "KiB", "MiB", "GiB")


def said(path: Path) -> list[str]:
    """Every string a module can print or raise: its literals, without docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


@pytest.mark.parametrize("path", SPOKEN, ids=lambda p: p.name)
def test_no_jargon_in_what_the_command_line_says(path: Path) -> None:
    assert [(text, word) for text in said(path) for word in JARGON if word in text] == []


def test_the_retention_rule_reads_in_the_right_number() -> None:
    assert describe(Retention(1, 1, 1)) == ("every snapshot of the last 1 hour, then the last of each day for 1 day, "
                                            "then the last of each week for 1 week")
    assert describe(Retention(24, 30, 0)).endswith("for 30 days, then the last of each week for ever")


def test_cat_of_a_folder_says_folder(cli: Cli) -> None:
    (cli.docs / "sub").mkdir()
    (cli.docs / "sub" / "a.txt").write_bytes(b"a")
    cli.ok("init", str(cli.repo), "--encryption", "none")
    cli.ok("add", str(cli.docs))
    cli.backup()
    run = cli("cat", str(cli.docs / "sub"))
    assert run.code == 2 and run.out == ""
    assert run.err.startswith(f"timekeep: {cli.docs / 'sub'} is a folder, not a file; `timekeep ls` lists a folder")
