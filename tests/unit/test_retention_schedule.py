"""The LA's retention schedule: read from its TOML file, refused whole (naming the line and field) when not right,
and which rule keeps a child's records longest (services/register/domain/retention.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.register.domain.retention import DEFAULT_SCHEDULE, ScheduleError, load_schedule, parse_schedule

LAS = Path(__file__).resolve().parents[2] / "infra" / "local_authorities"

GOOD = """\
local_authority = "840"
name = "Test LA"

[rules.sen-records]
applies_to = "sen"
from = "date_of_birth"
years = 31

[rules.pupil-records]
applies_to = "all"
from = "date_of_birth"
years = 25
"""


def test_the_default_durham_and_a_second_la_are_each_their_own_file() -> None:
    default = load_schedule(None)
    durham = load_schedule(LAS / "840" / "retention.toml")
    other = load_schedule(LAS / "929" / "retention.toml")
    assert default.source == str(DEFAULT_SCHEDULE) and default.local_authority is None
    assert (durham.local_authority, durham.name) == ("840", "Durham County Council")
    assert other.local_authority == "929"
    labels = {s.local_authority: [r.label for r in s.rules] for s in (default, durham, other)}
    assert (
        labels[None]
        == labels["840"]
        == ["sen-records: date of birth + 31 years", "pupil-records: date of birth + 25 years"]
    )
    assert labels["929"][0] == "ehc-plans: date of birth + 35 years"  # not hard-wired: the file decides

    # a child with an EHC plan born 1 March 2000: kept until 2031 by Durham's file, until 2035 by the other LA's
    born = date(2000, 3, 1)
    assert durham.due(born, date(2031, 3, 2), ever_sen=True, ever_ehc_plan=True).label.startswith("sen-records")
    assert other.due(born, date(2031, 3, 2), ever_sen=True, ever_ehc_plan=True) is None
    assert other.due(born, date(2035, 3, 2), ever_sen=True, ever_ehc_plan=True).name == "ehc-plans"


def test_the_rule_that_keeps_a_record_longest_decides_and_the_last_day_is_kept() -> None:
    schedule = parse_schedule(GOOD)
    born = date(2010, 6, 15)
    # never on the SEN register: only pupil-records covers them, 25 years
    assert schedule.due(born, date(2035, 6, 15), ever_sen=False, ever_ehc_plan=False) is None  # the last day kept
    assert schedule.due(born, date(2035, 6, 16), ever_sen=False, ever_ehc_plan=False).name == "pupil-records"
    # once on the SEN register, sen-records keeps them 31 years, and is the rule an erasure names
    assert schedule.due(born, date(2035, 6, 16), ever_sen=True, ever_ehc_plan=False) is None
    assert schedule.due(born, date(2041, 6, 16), ever_sen=True, ever_ehc_plan=False).name == "sen-records"
    assert schedule.due(born, date(2041, 6, 16), ever_sen=False, ever_ehc_plan=True).name == "sen-records"
    # 29 February: kept until 28 February in a year without one
    leap = date(2012, 2, 29)
    rule = schedule.rules[0]
    assert rule.kept_until(leap) == date(2043, 2, 28)
    assert schedule.due(leap, date(2043, 3, 1), ever_sen=True, ever_ehc_plan=False) is rule
    # nobody born after this can be due: the shortest rule
    assert schedule.born_on_or_before(date(2040, 1, 10)) == date(2015, 1, 10)


def test_a_schedule_with_no_rule_covering_a_child_never_erases_them() -> None:
    only_ehc = parse_schedule('[rules.plans]\napplies_to = "ehc-plan"\nfrom = "date_of_birth"\nyears = 31\n')
    assert only_ehc.due(date(1990, 1, 1), date(2060, 1, 1), ever_sen=True, ever_ehc_plan=False) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'local_authority = "840"\n[rules.sen-records\n',
            "not valid TOML: Expected ']' at the end of a table declaration (at line 2",
        ),
        (
            GOOD.replace("years = 31", 'years = "31"'),
            "line 7, rules.sen-records.years: a whole number of years from 1 to 120, not '31'",
        ),
        (GOOD.replace("years = 25", "years = 0"), "line 12, rules.pupil-records.years: a whole number of years"),
        (GOOD.replace("years = 31", "yaers = 31"), "line 7, rules.sen-records.yaers: unknown setting"),
        (
            GOOD.replace('applies_to = "sen"', 'applies_to = "send"'),
            "line 5, rules.sen-records.applies_to: 'send' is not one of 'all', 'sen', 'ehc-plan'",
        ),
        (
            GOOD.replace('from = "date_of_birth"\nyears = 25', 'from = "leaving_date"\nyears = 25'),
            "line 11, rules.pupil-records.from: 'leaving_date' is not one of 'date_of_birth'",
        ),
        (
            GOOD.replace('from = "date_of_birth"\nyears = 31\n', "years = 31\n"),
            "line 4, rules.sen-records.from: missing",
        ),
        (GOOD.replace('"840"', '"84"'), "line 1, local_authority: the LA's three-digit DfE code"),
        (
            GOOD.replace("[rules.sen-records]", "[rules.SEN_records]"),
            "line 4, rules.SEN_records: a rule's name is lower-case",
        ),
        ('name = "No rules"\n', "rules: no rules: give at least one"),
        (
            'retention = 31\n[rules.a]\napplies_to = "all"\nfrom = "date_of_birth"\nyears = 1\n',
            "line 1, retention: unknown setting",
        ),
    ],
)
def test_a_malformed_schedule_is_refused_naming_the_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ScheduleError) as refused:
        parse_schedule(text, "la/retention.toml")
    message = str(refused.value)
    assert message.startswith("retention schedule la/retention.toml: ")
    assert expected in message, message


def test_a_missing_file_is_refused_saying_so(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match=r"retention schedule .*nowhere.toml: cannot read it"):
        load_schedule(tmp_path / "nowhere.toml")
