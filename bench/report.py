"""The side-by-side table: one row per measure, a column per tool, Timekeep's ratio to the best peer; with
Timekeep's encrypted mode in the run, its ratio to the best encrypting peer and to our unencrypted mode; in
the S3 race, each of our S3 modes against restic's S3 backend, and the requests each tool made by kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

MIB = 1 << 20
OURS, OURS_ENCRYPTED = "timekeep", "timekeep-enc"
OURS_S3, OURS_S3_PLAIN = "timekeep-s3", "timekeep-s3-plain"
# whom each of our modes races: restic always encrypts; borg is run in the mode that matches ours
PEERS = {OURS: ("restic", "borg"), OURS_ENCRYPTED: ("restic", "borg-enc"), OURS_S3: ("restic-s3",),
         OURS_S3_PLAIN: ("restic-s3",)}
S3_COLUMNS = {OURS_S3: "S3 encrypted vs restic", OURS_S3_PLAIN: "S3 plain vs restic"}


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
    # the S3 race: for each measured step, each tool's requests by kind (LIST, GET, HEAD, PUT, POST, DELETE)
    requests: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)  # the machine's load average as the run began and ended
    latency_ms: float = 0.0  # the S3 race: the round trip added to every request

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def to_json(self) -> str:
        data = asdict(self)
        for row, raw in zip(self.rows, data["rows"], strict=True):
            raw["ratio"] = row.ratio()
            raw["ratio_encrypted"] = row.ratio(OURS_ENCRYPTED)
            raw["encrypted_vs_unencrypted"] = row.encryption_cost()
            if self.s3_modes():
                raw["ratio_s3"] = {mode: row.ratio(mode) for mode in self.s3_modes()}
        return json.dumps(data, indent=2)

    def s3_modes(self) -> list[str]:
        return [mode for mode in S3_COLUMNS if mode in self.tools]

    def _ratio_columns(self) -> tuple[list[str], list[Callable[[Row], float | None]]]:
        """The ratio columns' titles, and how each is figured from a row."""
        if self.s3_modes() or "restic-s3" in self.tools:
            return ([S3_COLUMNS[m] for m in self.s3_modes()],
                    [lambda row, mode=mode: row.ratio(mode) for mode in self.s3_modes()])
        titles, figures = ["Timekeep vs best peer"], [Row.ratio]
        if OURS_ENCRYPTED in self.tools:
            titles += ["encrypted vs best encrypted peer", "encrypted vs unencrypted"]
            figures += [lambda row: row.ratio(OURS_ENCRYPTED), Row.encryption_cost]
        return titles, figures

    def markdown(self) -> str:
        names = list(self.tools)
        titles, figures = self._ratio_columns()
        head = ["measure", "unit", *names, *titles, "target", "met"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows:
            ratios = [figure(row) for figure in figures]
            cells = [row.measure, row.unit, *(_fmt(row.values.get(n)) for n in names),
                     *(f"{ratio:.2f}×" if ratio is not None else "—" for ratio in ratios), row.target,
                     {True: "yes", False: "**no**", None: ""}[row.met]]
            lines.append("| " + " | ".join(cells) + " |")
        limits = [f"- {name}: {value:,.0f}" for name, value in self.limits.items()]
        versions = ", ".join(f"{n} {v}" for n, v in self.tools.items())
        load = (["", "Load average (1 minute) as the run began and ended: "
                 f"{self.load['began']:.2f} and {self.load['ended']:.2f} ({self.load.get('cores', 0):.0f} cores)."]
                if {"began", "ended"} <= self.load.keys() else [])
        latency = f" Every S3 request delayed by {self.latency_ms:g} ms (a round trip)." if self.latency_ms else ""
        return "\n".join([
            f"Dataset: {self.dataset_bytes / MIB:,.0f} MiB ({self.scale} scale). Tools: {versions}.{latency}", "",
            *lines, *self._requests_table(names), "", "Machine limits measured in the same run:", *limits, *load,
            ""])

    def _requests_table(self, names: list[str]) -> list[str]:
        if not self.requests:
            return []
        lines = ["", "| requests by kind | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
        for step, by_tool in self.requests.items():
            cells = [", ".join(f"{kind} {n:,}" for kind, n in by_tool.get(name, {}).items()) or "—"
                     for name in names]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        return lines

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
