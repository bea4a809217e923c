"""The command line builds only the parser of the command it was given (timekeep.core.cli.parser): each command
parses and helps exactly as it does in the whole parser, and whatever names no command builds the whole one."""

from __future__ import annotations

import argparse

import pytest

from timekeep.core.cli.parser import COMMANDS, build_parser, chosen_command


def parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every command's parser and every verb's (`key change`) under its name."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {verb}": inner for verb, inner in parsers(sub).items()})
    return found


def test_each_command_built_alone_helps_as_in_the_whole_parser() -> None:
    whole = parsers(build_parser())
    assert [name for name, _ in COMMANDS] == [name for name in whole if " " not in name]
    for name, _ in COMMANDS:
        alone = parsers(build_parser(name))
        assert {n for n in alone if n.split(" ")[0] == name} == {n for n in whole if n.split(" ")[0] == name}
        assert all(alone[n].format_help() == whole[n].format_help() for n in alone), name


@pytest.mark.parametrize("argv", [
    ["backup", "--json"], ["--repo", "/r", "ls", "/x", "--at", "3"], ["restore", "/p", "--to", "/d", "--quiet"],
    ["key", "remove", "2", "--force"], ["guard", "clear"], ["find", "*.pdf", "--between", "1", "2"],
    ["agent", "--install"], ["init", "/new", "--no-keyring", "--encryption", "none"],
])
def test_a_command_parses_the_same_alone(argv: list[str]) -> None:
    alone, whole = build_parser(chosen_command(argv)).parse_args(argv), build_parser().parse_args(argv)
    assert chosen_command(argv) == next(t for t in argv if not t.startswith("-") and t != "/r")
    assert alone.func.__name__ == whole.func.__name__
    del alone.func, whole.func
    assert vars(alone) == vars(whole)


@pytest.mark.parametrize(("argv", "chosen"), [
    ([], None), (["--help"], None), (["--version"], None), (["bogus"], None), (["--rep", "/r", "ls"], None),
    (["--repo", "/r", "ls"], "ls"), (["--repo=/r", "status"], "status"), (["--repo", "ls", "snapshots"], "snapshots"),
    (["-h", "ls"], None),
])
def test_what_names_no_command_builds_the_whole_parser(argv: list[str], chosen: str | None) -> None:
    assert chosen_command(argv) == chosen
