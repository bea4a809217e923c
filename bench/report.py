"""The side-by-side table: one row per measure, a column per tool, Timekeep's ratio to the best peer; with
Timekeep's encrypted mode in the run, its ratio to the best encrypting peer and to our unencrypted mode."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

MIB = 1 << 20
OURS, OURS_ENCRYPTED = "timekeep", "timekeep-enc"
# whom each of our modes races: restic always encrypts; borg is run in the mode that matches ours
PEERS = {OURS: ("restic", "borg"), OURS_ENCRYPTED: ("restic", "borg-enc")}


@dataclass
class Row:
    measure: str
    unit: str
    values: dict[str, float]
    higher_is_better: bool = False
    target: str = ""
    met: bool | None = None

    def ratio(self, ours: str = OURS) -> float | None:
        """Our mode `ours` against its best peer, > 1 when ours is better."""
        peers = [v for k, v in self.values.items() if k in PEERS[ours] and v > 0]
        if not peers:
            return None
        return self._better(self.values.get(ours), max(peers) if self.higher_is_better else min(peers))

    def encryption_cost(self) -> float | None:
        """Our encrypted mode against our unencrypted one, > 1 when encrypted is better (0.9: 10% worse)."""
        return self._better(self.values.get(OURS_ENCRYPTED), self.values.get(OURS))

    def _better(self, ours: float | None, theirs: float | None) -> float | None:
        if ours is None or not theirs:
            return None
        if self.higher_is_better:
            return ours / theirs
        return theirs / ours if ours > 0 else float("inf")


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
            raw["ratio_encrypted"] = row.ratio(OURS_ENCRYPTED)
            raw["encrypted_vs_unencrypted"] = row.encryption_cost()
        return json.dumps(data, indent=2)

    def markdown(self) -> str:
        names, encrypted = list(self.tools), OURS_ENCRYPTED in self.tools
        ratios = ["Timekeep vs best peer"]
        if encrypted:
            ratios += ["encrypted vs best encrypted peer", "encrypted vs unencrypted"]
        head = ["measure", "unit", *names, *ratios, "target", "met"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows:
            figures = [row.ratio()] + ([row.ratio(OURS_ENCRYPTED), row.encryption_cost()] if encrypted else [])
            cells = [row.measure, row.unit, *(_fmt(row.values.get(n)) for n in names),
                     *(f"{ratio:.2f}×" if ratio is not None else "—" for ratio in figures), row.target,
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
