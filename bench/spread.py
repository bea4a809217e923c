"""The targets table over several runs: each row's median and spread (lowest–highest), our ratio to the better
peer the same way, and whether the target was met in every run, in some, or in none.

`python -m bench.spread results/a.json results/b.json results/c.json [--out results/spread]`

One run on a shared machine says little: a row is "met" here only when every run met it, and the spread shows
how far the runs disagree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import OURS, Row


@dataclass
class Spread:
    """One measure across runs, in the order the first run listed it."""

    measure: str
    unit: str
    target: str = ""
    values: dict[str, list[float]] = field(default_factory=dict)
    ratios: list[float] = field(default_factory=list)
    met: list[bool] = field(default_factory=list)

    def verdict(self) -> str:
        if not self.met:
            return ""
        if all(self.met):
            return "yes" if len(self.met) > 1 else "yes (one run)"
        return "**no**" if not any(self.met) else f"**{sum(self.met)} of {len(self.met)} runs**"


def gather(runs: list[dict[str, object]]) -> tuple[list[str], list[Spread]]:
    """Every tool seen in any run, and every measure with its figures from each run that has it."""
    tools: list[str] = []
    rows: dict[str, Spread] = {}
    for run in runs:
        for name in run["tools"]:  # type: ignore[attr-defined]
            if name not in tools:
                tools.append(name)
        for raw in run["rows"]:  # type: ignore[attr-defined]
            row = Row(raw["measure"], raw["unit"], raw["values"], raw.get("higher_is_better", False),
                      raw.get("target", ""), raw.get("met"))
            spread = rows.setdefault(row.measure, Spread(row.measure, row.unit))
            spread.target = row.target or spread.target
            for name, value in row.values.items():
                spread.values.setdefault(name, []).append(value)
            ratio = row.ratio()
            if ratio is not None:
                spread.ratios.append(ratio)
            if row.met is not None:
                spread.met.append(bool(row.met))
    return tools, list(rows.values())


def figure(values: list[float], suffix: str = "") -> str:
    """The median, and the lowest–highest when runs differ: `261 (255–284)`."""
    if not values:
        return "—"
    middle = statistics.median(values)
    text = _fmt(middle) + suffix
    if len(values) > 1 and min(values) != max(values):
        text += f" ({_fmt(min(values))}–{_fmt(max(values))})"
    return text


def markdown(paths: list[Path], runs: list[dict[str, object]]) -> str:
    tools, rows = gather(runs)
    head = ["measure", "unit", *tools, "Timekeep vs best peer", "target", "met"]
    lines = [f"{len(runs)} runs: " + ", ".join(str(p) for p in paths) + ". Each cell: the median, and the lowest–"
             "highest over the runs.", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.measure, row.unit, *(figure(row.values.get(t, [])) for t in tools),
                 figure(row.ratios, "×"), row.target, row.verdict()]
        lines.append("| " + " | ".join(cells) + " |")
    loads = [run.get("load", {}) for run in runs]
    spans = [f"{load['began']:.1f}–{load['ended']:.1f}" for load in loads  # type: ignore[union-attr]
             if isinstance(load, dict) and {"began", "ended"} <= load.keys()]
    if spans:
        lines += ["", "Load average (1 minute) as each run began and ended: " + ", ".join(spans) + "."]
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="results JSON files written by bench.run")
    parser.add_argument("--out", type=Path, help="also write the table to OUT.md")
    args = parser.parse_args(argv)
    try:
        runs = [json.loads(path.read_text()) for path in args.runs]
    except (OSError, ValueError) as err:
        print(f"bench.spread: cannot read the results: {err}", file=sys.stderr)
        return 2
    if any(not isinstance(run, dict) or "rows" not in run or OURS not in run.get("tools", {}) for run in runs):
        print("bench.spread: every file must be a bench.run result with Timekeep in it", file=sys.stderr)
        return 2
    text = markdown(args.runs, runs)
    if args.out:
        args.out.with_suffix(".md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
