"""A school roll exported from its management information system (CSV), read and checked. Pure.

Columns are matched by name, case and spacing ignored, with the headings SIMS, Arbor and Bromcom
exports commonly use. Required: UPN, forename, surname, date of birth. Optional: year group (NC year),
and up to two contacts with parental responsibility (name, relationship, email, mobile, preferred
channel). Every row is checked on its own; a bad row is reported with its line number and the field at
fault and the rest are imported. A file with no recognisable heading row, or no rows, is refused whole.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from unicodedata import normalize
from uuid import UUID

from eventsourcing.domain import event
from pydantic import ValidationError

from contracts.envelope import derived_id
from contracts.identifiers import validate_upn
from contracts.people import PersonToTell
from contracts.text import control_character, problem_with
from services.register.domain.census import age_on
from services.runtime.aggregate import Aggregate
from services.runtime.errors import DomainError
from services.runtime.keyring import person_id_for

HEADINGS: dict[str, tuple[str, ...]] = {
    "upn": ("upn", "unique pupil number"),
    "given_name": ("forename", "legal forename", "first name", "given name", "forenames"),
    "family_name": ("surname", "legal surname", "last name", "family name"),
    "date_of_birth": ("dob", "date of birth", "birth date"),
    "year_group": ("year", "year group", "nc year", "ncyear", "national curriculum year", "ncy"),
}
CONTACT_FIELDS = ("name", "relationship", "email", "mobile", "preferred channel")
MAX_CONTACTS = 2
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")
OLDEST_AGE = 25


def _norm(heading: str) -> str:
    return " ".join(heading.replace("_", " ").strip().lower().split())


@dataclass
class RollRow:
    line: int
    upn: str
    given_name: str
    family_name: str
    date_of_birth: date
    year_group: int | None
    people: list[dict[str, Any]]


@dataclass
class ReadRoll:
    rows: list[RollRow] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {row, field, problem}
    total: int = 0


def file_fingerprint(csv_text: str) -> str:
    """The same file gives the same fingerprint whatever its line endings."""
    canonical = "\n".join(line.rstrip() for line in csv_text.replace("\r\n", "\n").strip().split("\n"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_DAY_MONTH_YEAR = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_date(value: str) -> date:
    # The two forms MIS exports use, read directly (strptime is slow); anything else, or an impossible day,
    # goes the long way below, which says what is wrong.
    if found := _DAY_MONTH_YEAR.fullmatch(value):
        with contextlib.suppress(ValueError):
            return date(int(found[3]), int(found[2]), int(found[1]))
    elif found := _ISO_DAY.fullmatch(value):
        with contextlib.suppress(ValueError):
            return date(int(found[1]), int(found[2]), int(found[3]))
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")


def parse_year_group(value: str) -> int | None:
    v = value.strip().upper()
    if not v:
        return None
    if v in ("R", "REC", "RECEPTION"):
        return 0
    if v in ("N1", "N2"):
        return -int(v[1])
    v = v.removeprefix("YEAR").removeprefix("Y").strip()
    if v.lstrip("-").isdigit() and -2 <= int(v) <= 14:
        return int(v)
    raise ValueError(f"{value!r} is not a year group (R, N1, N2 or 1 to 14)")


def read_roll(csv_text: str, today: date) -> ReadRoll:
    if not csv_text.strip():
        raise DomainError(
            "The file is empty: export the roll with a heading row and one row per pupil.",
            rule="empty_file",
            field="csv_text",
        )
    try:
        dialect = csv.Sniffer().sniff(csv_text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(csv_text), dialect)
    try:
        header = next(reader)
    except (csv.Error, StopIteration):
        raise DomainError("The file could not be read as CSV.", rule="garbled_file", field="csv_text") from None
    columns = {_norm(h): i for i, h in enumerate(header)}
    where: dict[str, int] = {}
    for name, aliases in HEADINGS.items():
        for alias in aliases:
            if alias in columns:
                where[name] = columns[alias]
                break
    missing = [n for n in ("upn", "given_name", "family_name", "date_of_birth") if n not in where]
    if missing:
        raise DomainError(
            "The file's heading row has no column for "
            + ", ".join(HEADINGS[m][0] for m in missing)
            + f" (found: {', '.join(_printable(h) for h in header[:12]) or 'nothing'}). "
            "Export the roll as CSV with a heading row.",
            rule="garbled_file",
            field="csv_text",
        )
    contacts = []
    for n in range(1, MAX_CONTACTS + 1):
        cols = {f: columns.get(f"contact {n} {f}") for f in CONTACT_FIELDS}
        if cols["name"] is not None:
            contacts.append(cols)

    result = ReadRoll()
    seen: dict[str, int] = {}
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        result.total += 1

        def cell(i: int | None) -> str:  # used within this row's iteration only
            return normalize("NFC", record[i].strip()) if i is not None and i < len(record) else ""  # noqa: B023

        def reject(field_name: str, problem: str) -> None:
            result.rejected.append({"row": line, "field": field_name, "problem": problem})  # noqa: B023

        # A cell holding a control character (a NUL from a broken export) cannot be stored: the row is
        # rejected naming the column, and the character is not echoed back.
        bad = None
        if control_character("".join(record), line_breaks=False):  # rare: then find the cell
            bad = next((i for i, value in enumerate(record) if control_character(value, line_breaks=False)), None)
        if bad is not None:
            heading = _printable(header[bad]) if bad < len(header) else f"column {bad + 1}"
            reject(heading, f"the {heading} cell {problem_with(record[bad], line_breaks=False)}")
            continue

        try:
            upn = validate_upn(cell(where["upn"]))
        except ValueError as e:
            reject("upn", str(e))
            continue
        if upn in seen:
            reject("upn", f"UPN {upn} is also on line {seen[upn]}: each pupil once")
            continue
        seen[upn] = line
        given, family = cell(where["given_name"]), cell(where["family_name"])
        if not given or not family:
            reject("given_name" if not given else "family_name", "the name is blank")
            continue
        try:
            born = parse_date(cell(where["date_of_birth"]))
        except ValueError as e:
            reject("date_of_birth", str(e))
            continue
        if born > today:
            reject("date_of_birth", f"{born:%d %B %Y} is in the future")
            continue
        if age_on(born, today) > OLDEST_AGE:
            reject("date_of_birth", f"{born:%d %B %Y} makes the pupil {age_on(born, today)} years old")
            continue
        try:
            year_group = parse_year_group(cell(where.get("year_group")))
        except ValueError as e:
            reject("year_group", str(e))
            continue
        people, problem = [], None
        for n, cols in enumerate(contacts, start=1):
            name = cell(cols["name"])
            if not name:
                continue
            channel = cell(cols["preferred channel"]).lower() or ("email" if cell(cols["email"]) else "letter")
            try:
                person = PersonToTell(
                    person_id=person_id_for(upn, n, name),
                    name=name,
                    relationship=cell(cols["relationship"]) or "parent",
                    has_parental_responsibility=True,
                    email=cell(cols["email"]) or None,
                    mobile=cell(cols["mobile"]) or None,
                    preferred_channel=channel,
                )
            except ValidationError as e:
                err = e.errors()[0]
                problem = (f"contact_{n}_{err['loc'][0]}", err["msg"])
                break
            people.append(person.model_dump(mode="json"))
        if problem:
            reject(*problem)
            continue
        result.rows.append(RollRow(line, upn, given, family, born, year_group, people))
    if result.total == 0:
        raise DomainError("The file has a heading row but no pupils.", rule="empty_file", field="csv_text")
    return result


def _printable(text: str) -> str:
    """Text from a file, safe to show and store: control characters shown as "?"."""
    return "".join("?" if control_character(ch, line_breaks=False) else ch for ch in text)[:60]


class RollImport(Aggregate):
    if TYPE_CHECKING:  # made by the @event decorators below; named here so type checkers know them
        Imported: ClassVar[type[Any]]

    """One file imported once: its fingerprint keys it, so the same file cannot be imported twice."""

    @staticmethod
    def create_id(school_urn: str, fingerprint: str, **_: Any) -> UUID:
        return derived_id("roll-import", school_urn, fingerprint)

    @property
    def data_subject(self) -> UUID:
        """A report's rejected rows may quote pupils' details: sealed under a key of the report's own."""
        return self.id

    @event("Imported")
    def __init__(
        self,
        school_urn: str,
        fingerprint: str,
        file_name: str,
        on_roll_from: date,
        rows: int,
        enrolled: int,
        updated: int,
        unchanged: int,
        rejected: list[dict[str, Any]],
    ) -> None:
        self.school_urn = school_urn
        self.fingerprint = fingerprint
        self.file_name = file_name
        self.on_roll_from = on_roll_from
        self.rows = rows
        self.enrolled = enrolled
        self.updated = updated
        self.unchanged = unchanged
        self.rejected = rejected
