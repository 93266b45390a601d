"""School census rules: census days, year groups, who shows on the register as at a date. Pure.

- Census days (DfE school census guide): autumn on the first Thursday of October, spring on the third
  Thursday of January, summer on the third Thursday of May. January collects status and ranked need
  types; May and October collect status.
- A pupil taken off the register shows as N at the first census after removal only, then is simply not
  on the register (Durham SEND toolkit 2b).
- National curriculum year group: a child aged 5 on 31 August starts Year 1 that September; Reception
  is year 0.
"""

from __future__ import annotations

from datetime import date, timedelta

THURSDAY = 3

# National comparators, January 2025 school census (DOMAIN.md section 2; DfE "Special educational needs
# in England" 2024/25): percentage of pupils on SEN support and with an EHC plan.
NATIONAL_SEN_SUPPORT_PERCENT = 14.2
NATIONAL_EHC_PLAN_PERCENT = 5.3
NATIONAL_COMPARATOR_LABEL = "England, January 2025"


def _nth_thursday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (THURSDAY - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def census_days(year: int) -> dict[str, date]:
    return {
        "spring": _nth_thursday(year, 1, 3),
        "summer": _nth_thursday(year, 5, 3),
        "autumn": _nth_thursday(year, 10, 1),
    }


def census_day(year: int, term: str) -> date:
    try:
        return census_days(year)[term]
    except KeyError:
        raise ValueError("a census term is spring (January), summer (May) or autumn (October)") from None


def last_census_day_before(day: date) -> date:
    """The most recent census day strictly before `day`."""
    candidates = [d for year in (day.year - 1, day.year) for d in census_days(year).values() if d < day]
    return max(candidates)


def removed_pupil_shows_as_n(removed_on: date, as_at: date) -> bool:
    """Shown as N at the first census after removal only: no census day fell between removal and the date."""
    return last_census_day_before(as_at) < removed_on <= as_at


def academic_year_starting(day: date) -> int:
    return day.year if day.month >= 9 else day.year - 1


def age_on(date_of_birth: date, day: date) -> int:
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def year_group_from_birth(date_of_birth: date, on: date) -> int:
    """The national curriculum year for the pupil's age (0 = Reception, negative = nursery)."""
    return age_on(date_of_birth, date(academic_year_starting(on), 8, 31)) - 4


def year_group_on(date_of_birth: date, on: date, recorded: int | None, recorded_on: date | None) -> int:
    """The school's recorded year group carried forward a year each September; else derived from age.

    A school's information system may place a pupil outside their age cohort (held back or moved up);
    when it told us the year group on some day, that placement wins.
    """
    if recorded is None or recorded_on is None:
        return year_group_from_birth(date_of_birth, on)
    return recorded + academic_year_starting(on) - academic_year_starting(recorded_on)


def year_group_label(year_group: int) -> str:
    if year_group == 0:
        return "R"
    if year_group < 0:
        return "N" + str(-year_group)  # nursery
    return str(year_group)


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0
