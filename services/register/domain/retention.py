"""An LA's retention schedule: which of the register's records are kept how long, by rule name (docs/audit.md).

The schedule is configuration, not code: a TOML file per LA (infra/local_authorities/<code>/retention.toml; the
default, the Information and Records Management Society's schools toolkit values, beside this module). Each rule
names the records it covers, the date it counts from and how many years:

    [rules.sen-records]
    applies_to = "sen"          # children ever on the SEN register (K or E): SEN files, reviews, EHC plans
    from = "date_of_birth"
    years = 31                  # kept until the 31st anniversary of the date of birth; erased after it
    source = "IRMS Toolkit for Schools: SEN files, reviews and EHC plans"

A child's record is kept until every rule that covers it has run out; the rule that runs out last is the one an
erasure names ("sen-records: date of birth + 31 years"). A file that is not right is refused whole, naming the
line (and the field) at fault: a service does not start on a schedule it cannot read.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from services.runtime.errors import ConfigurationError

DEFAULT_SCHEDULE = Path(__file__).resolve().parent.parent / "default_retention.toml"

# What a rule may cover, and what the register can tell about a child to decide it.
APPLIES_TO = {
    "all": "every child on the register's rolls",
    "sen": "children ever on the SEN register (SEN support or an EHC plan)",
    "ehc-plan": "children who ever had an EHC plan",
}
# The dates a rule may count from (the register keeps each child's date of birth until they are erased).
COUNTS_FROM = {"date_of_birth": "date of birth"}
RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
RULE_KEYS = {"applies_to", "from", "years", "source", "description"}
TOP_KEYS = {"local_authority", "name", "rules"}
MOST_YEARS = 120


class ScheduleError(ConfigurationError):
    """A retention schedule that cannot be used, and where in its file the fault is."""


@dataclass(frozen=True)
class RetentionRule:
    name: str
    applies_to: str
    counts_from: str
    years: int
    source: str = ""
    description: str = ""

    @property
    def label(self) -> str:
        """How an erasure names the rule, e.g. "sen-records: date of birth + 31 years"."""
        return f"{self.name}: {COUNTS_FROM[self.counts_from]} + {self.years} years"

    def covers(self, *, ever_sen: bool, ever_ehc_plan: bool) -> bool:
        if self.applies_to == "all":
            return True
        if self.applies_to == "sen":
            return ever_sen or ever_ehc_plan
        return ever_ehc_plan

    def kept_until(self, date_of_birth: date) -> date:
        """The last day the records are kept: the anniversary (29 February: 28 February in other years)."""
        return add_years(date_of_birth, self.years)


@dataclass(frozen=True)
class RetentionSchedule:
    rules: tuple[RetentionRule, ...]
    local_authority: str | None = None
    name: str = ""
    source: str = ""  # the file it was read from

    def binding_rule(
        self, date_of_birth: date, *, ever_sen: bool, ever_ehc_plan: bool
    ) -> tuple[RetentionRule, date] | None:
        """The rule that keeps the child's records longest, and the last day it keeps them (None: no rule covers
        the child, so nothing here ever erases them)."""
        found: tuple[RetentionRule, date] | None = None
        for rule in self.rules:  # in the file's order: of two rules ending the same day, the first is named
            if rule.covers(ever_sen=ever_sen, ever_ehc_plan=ever_ehc_plan):
                until = rule.kept_until(date_of_birth)
                if found is None or until > found[1]:
                    found = (rule, until)
        return found

    def due(self, date_of_birth: date, today: date, *, ever_sen: bool, ever_ehc_plan: bool) -> RetentionRule | None:
        """The rule under which the child's records are due to be erased today (kept until a day before today),
        or None while they must be kept."""
        binding = self.binding_rule(date_of_birth, ever_sen=ever_sen, ever_ehc_plan=ever_ehc_plan)
        if binding is None or binding[1] >= today:
            return None
        return binding[0]

    def born_on_or_before(self, today: date) -> date:
        """No child born after this day can be due today (every rule keeps records at least this long)."""
        return add_years(today, -min(rule.years for rule in self.rules))


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a year without one
        return day.replace(year=day.year + years, day=28)


def load_schedule(path: str | Path | None) -> RetentionSchedule:
    """The schedule in a file (None: the default). Raises ScheduleError naming the file, line and field."""
    where = Path(path) if path is not None else DEFAULT_SCHEDULE
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as e:
        raise ScheduleError(f"retention schedule {where}: cannot read it ({e.strerror or e})") from None
    return parse_schedule(text, str(where))


def parse_schedule(text: str, source: str = "<schedule>") -> RetentionSchedule:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScheduleError(f"retention schedule {source}: not valid TOML: {e}") from None
    lines = text.splitlines()

    def fault(problem: str, *path: str) -> ScheduleError:
        line = _line_of(lines, path) or (_line_of(lines, path[:2]) if len(path) > 2 else None)
        at = f"line {line}, " if line else ""
        field = ".".join(path)
        return ScheduleError(f"retention schedule {source}: {at}{field}: {problem}")

    for key in data:
        if key not in TOP_KEYS:
            raise fault(f"unknown setting; a schedule has {', '.join(sorted(TOP_KEYS))}", key)
    la = data.get("local_authority")
    if la is not None and not (isinstance(la, str) and re.fullmatch(r"\d{3}", la)):
        raise fault(f'the LA\'s three-digit DfE code, in quotes (e.g. "840"), not {la!r}', "local_authority")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise fault("the LA's name, in quotes", "name")
    rules_table = data.get("rules")
    if not isinstance(rules_table, dict) or not rules_table:
        raise fault("no rules: give at least one, e.g. [rules.sen-records] with applies_to, from and years", "rules")
    rules = []
    for rule_name, spec in rules_table.items():
        if not RULE_NAME.match(rule_name):
            raise fault(
                "a rule's name is lower-case letters, digits and hyphens (e.g. sen-records)", "rules", rule_name
            )
        if not isinstance(spec, dict):
            raise fault("a rule is a table: [rules.<name>] with applies_to, from and years", "rules", rule_name)
        rules.append(_rule(rule_name, spec, fault))
    return RetentionSchedule(rules=tuple(rules), local_authority=la, name=name, source=source)


def _rule(name: str, spec: dict[str, Any], fault: Any) -> RetentionRule:
    for key in spec:
        if key not in RULE_KEYS:
            raise fault(f"unknown setting; a rule has {', '.join(sorted(RULE_KEYS))}", "rules", name, key)
    for key in ("applies_to", "from", "years"):
        if key not in spec:
            raise fault("missing", "rules", name, key)
    applies_to = spec["applies_to"]
    if applies_to not in APPLIES_TO:
        raise fault(
            f"{applies_to!r} is not one of {', '.join(repr(a) for a in APPLIES_TO)}", "rules", name, "applies_to"
        )
    counts_from = spec["from"]
    if counts_from not in COUNTS_FROM:
        raise fault(f"{counts_from!r} is not one of {', '.join(repr(c) for c in COUNTS_FROM)}", "rules", name, "from")
    years = spec["years"]
    if isinstance(years, bool) or not isinstance(years, int) or not 1 <= years <= MOST_YEARS:
        raise fault(f"a whole number of years from 1 to {MOST_YEARS}, not {years!r}", "rules", name, "years")
    for key in ("source", "description"):
        if not isinstance(spec.get(key, ""), str):
            raise fault("text, in quotes", "rules", name, key)
    return RetentionRule(
        name=name,
        applies_to=applies_to,
        counts_from=counts_from,
        years=years,
        source=spec.get("source", ""),
        description=spec.get("description", ""),
    )


def _line_of(lines: list[str], path: tuple[str, ...]) -> int | None:
    """The line a field is on (1-based), found in the text: tomllib says where a syntax error is, not where a
    value it parsed came from. `rules.<name>.<key>`: the key's line within the rule's table."""
    if not path:
        return None
    start = 0
    if path[0] == "rules" and len(path) > 1:
        header = re.compile(rf'^\s*\[\s*rules\s*\.\s*"?{re.escape(path[1])}"?\s*\]')
        start = next((i for i, line in enumerate(lines) if header.match(line)), -1)
        if start < 0:
            return None
        if len(path) == 2:
            return start + 1
        key = path[2]
    else:
        key = path[0]
    if key == "rules":
        return next((i + 1 for i, line in enumerate(lines) if line.lstrip().startswith("[rules")), None)
    assign = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
    for i in range(start, len(lines)):
        if lines[i].lstrip().startswith("[") and (i > start or path[0] != "rules"):
            break  # the next table: the key is not in this one
        if assign.match(lines[i]):
            return i + 1
    return None
