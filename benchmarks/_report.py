"""The one table every benchmark reports into: each figure beside the limit measured in the same run.

A benchmark module exposes `async def measure(quick: bool) -> list[Figure]` (and may still run on its own
with `python benchmarks/<name>.py`, printing `table(figures)`). `benchmarks/run_all.py` (scripts/bench.sh)
runs every module and prints one table.

A Figure's goal is one of:
- Goal.at_least(x): the figure must be >= x (a rate: events/s);
- Goal.at_most(x): the figure must be <= x (a latency or a cost: ms);
- Goal.ratio_at_least(r): figure / limit must be >= r (the limit being what the same servers can do raw);
- Goal.none(): printed for information (a limit, or what a figure is made of).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Goal:
    kind: str  # "min", "max", "ratio", "info"
    value: float = 0.0

    @classmethod
    def at_least(cls, value: float) -> Goal:
        return cls("min", value)

    @classmethod
    def at_most(cls, value: float) -> Goal:
        return cls("max", value)

    @classmethod
    def ratio_at_least(cls, value: float) -> Goal:
        return cls("ratio", value)

    @classmethod
    def none(cls) -> Goal:
        return cls("info")

    def describe(self, unit: str) -> str:
        if self.kind == "min":
            return f">= {_number(self.value)} {unit}"
        if self.kind == "max":
            return f"<= {_number(self.value)} {unit}"
        if self.kind == "ratio":
            return f">= {self.value:.0%} of limit"
        return ""


@dataclass(frozen=True)
class Figure:
    """One measured figure. `limit` is what the same machine and servers did raw in the same run (None
    when there is no such comparison); `note` says how it was measured or what limits it."""

    what: str
    value: float
    unit: str
    goal: Goal = field(default_factory=Goal.none)
    limit: float | None = None
    limit_what: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.limit is None or not self.limit:
            return None
        return self.value / self.limit

    @property
    def passed(self) -> bool | None:
        if self.goal.kind == "info" or math.isnan(self.value):
            return None
        if self.goal.kind == "min":
            return self.value >= self.goal.value
        if self.goal.kind == "max":
            return self.value <= self.goal.value
        ratio = self.ratio
        return ratio is not None and ratio >= self.goal.value


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: Sequence[Figure]) -> str:
    """A plain-text (and Markdown) table: figure, limit, ratio, goal, pass/fail."""
    rows = [("what", "figure", "limit (same run)", "ratio", "goal", "result")]
    for f in figures:
        limit = f"{_number(f.limit)} {f.unit}" + (f" ({f.limit_what})" if f.limit_what else "") if f.limit else ""
        ratio = f"{f.ratio:.0%}" if f.ratio is not None else ""
        result = {True: "pass", False: "FAIL", None: ""}[f.passed]
        rows.append((f.what, f"{_number(f.value)} {f.unit}", limit, ratio, f.goal.describe(f.unit), result))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = [f"- {f.what}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) of samples, nearest-rank; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]
