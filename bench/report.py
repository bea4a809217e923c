"""The side-by-side table: one row per measure, a column per tool, Timekeep's ratio to the best peer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

MIB = 1 << 20


@dataclass
class Row:
    measure: str
    unit: str
    values: dict[str, float]
    higher_is_better: bool = False
    target: str = ""
    met: bool | None = None

    def ratio(self) -> float | None:
        """Timekeep against the best peer, > 1 when Timekeep is better."""
        ours = self.values.get("timekeep")
        peers = [v for k, v in self.values.items() if k != "timekeep" and v > 0]
        if ours is None or not peers:
            return None
        if self.higher_is_better:
            return ours / max(peers)
        return min(peers) / ours if ours > 0 else float("inf")


@dataclass
class Report:
    scale: str
    dataset_bytes: int
    tools: dict[str, str]
    limits: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def to_json(self) -> str:
        data = asdict(self)
        for row, raw in zip(self.rows, data["rows"], strict=True):
            raw["ratio"] = row.ratio()
        return json.dumps(data, indent=2)

    def markdown(self) -> str:
        names = list(self.tools)
        head = ["measure", "unit", *names, "Timekeep vs best peer", "target", "met"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows:
            ratio = row.ratio()
            cells = [row.measure, row.unit, *(_fmt(row.values.get(n)) for n in names),
                     f"{ratio:.2f}×" if ratio is not None else "—", row.target,
                     {True: "yes", False: "**no**", None: ""}[row.met]]
            lines.append("| " + " | ".join(cells) + " |")
        limits = [f"- {name}: {value:,.0f}" for name, value in self.limits.items()]
        versions = ", ".join(f"{n} {v}" for n, v in self.tools.items())
        return "\n".join([
            f"Dataset: {self.dataset_bytes / MIB:,.0f} MiB ({self.scale} scale). Tools: {versions}.", "",
            *lines, "", "Machine limits measured in the same run:", *limits, ""])

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        as_json, as_md = folder / f"{stem}.json", folder / f"{stem}.md"
        as_json.write_text(self.to_json())
        as_md.write_text(self.markdown())
        return as_json, as_md


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
