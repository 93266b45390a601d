"""Replies as people read them: record cards, registers, counts and lists as plain text tables.

`render(value)` turns the result of a query (a contracts model, a list of them, or the census extract) into
text for a SENCO, an LA caseworker or a data officer; `render_rejection(rejected)` says what was refused and
which fields were wrong. Pure: it depends only on contracts/ and rich, and writes nothing anywhere.

The text is stable: rich renders to a string at a fixed width, with no colour, no markup (a reason that says
"[urgent]" is printed as written) and no trailing spaces. Dates read "3 Nov 2026"; times are Europe/London.
A child looked after's protected address never appears: no contract carries it, and the generic fallback
refuses to print a `PostalAddressForProtection` or a `protected_address` field should one be handed to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from functools import singledispatch
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from contracts.envelope import Accepted, Answered, Rejected, RejectionCode, Role
from contracts.identifiers import NeedType, SenStatus
from contracts.notifications import CountsView, Duty, NotificationStatus, NotificationView
from contracts.people import PersonToTell
from contracts.register import (
    CensusFile,
    CountLine,
    HistoryEntry,
    PostalAddressForProtection,
    PupilStatusChange,
    PupilView,
    RegisterAsAt,
    RegisterCounts,
    RollImportReport,
)

__all__ = ["WIDTH", "format_date", "format_datetime", "need_in_words", "render", "render_rejection", "status_in_words"]

WIDTH = 120  # characters; a caller on a terminal may pass its own width
LONDON = ZoneInfo("Europe/London")
NOTHING = "-"
HIDDEN = "held (never shown)"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# School census "SEN provision" codes.
STATUS_NAMES: dict[SenStatus, str] = {
    SenStatus.NO_SEN: "no special educational needs",
    SenStatus.SEN_SUPPORT: "SEN support",
    SenStatus.EHC_PLAN: "EHC plan",
}

# DfE school census type-of-need codes, named as in the census guide (SEN type of need).
NEED_NAMES: dict[NeedType, str] = {need: need.in_words for need in NeedType}  # the contract's words

DUTY_NAMES: dict[Duty, str] = {
    Duty.SEN_PROVISION_STARTED: "tell parents: added to SEN support",
    Duty.SEN_PROVISION_MADE: "tell parents: special educational provision made",
    Duty.REMOVED_FROM_SEN_REGISTER: "tell parents: removed from the SEN register",
    Duty.SUPPORT_PLAN_REVIEW_OUTCOME: "support plan review outcome",
    Duty.EHC_REQUEST_RECEIVED: "EHC needs assessment request received",
    Duty.EHC_ASSESSMENT_AGREED: "EHC needs assessment agreed",
    Duty.EHC_ASSESSMENT_REFUSED: "EHC needs assessment refused (appeal rights)",
    Duty.EHC_ADVICE_REQUESTED: "advice requested for an EHC needs assessment",
    Duty.EHC_PLAN_NOT_ISSUED: "EHC plan not to be issued (appeal rights)",
    Duty.EHC_DRAFT_PLAN: "draft EHC plan (15 days to respond)",
    Duty.EHC_FINAL_PLAN: "final EHC plan (appeal rights)",
    Duty.ANNUAL_REVIEW_INVITATION: "annual review invitation",
    Duty.ANNUAL_REVIEW_OUTCOME: "annual review outcome",
    Duty.EHC_PLAN_CEASED: "EHC plan ceased (appeal rights)",
    Duty.PROFESSIONAL_NOTICE: "notice to professionals",
    Duty.ACCESS_INVITATION: "invitation to see the record (one-time code)",
}

NOTIFICATION_STATUS_NAMES: dict[NotificationStatus, str] = {
    NotificationStatus.OWED: "owed, not yet written",
    NotificationStatus.RENDERED: "written, waiting to send",
    NotificationStatus.SENDING: "sending",
    NotificationStatus.SENT: "sent",
    NotificationStatus.DELIVERED: "delivered",
    NotificationStatus.RETRY_DUE: "will be tried again",
    NotificationStatus.FAILED: "failed to reach",
    NotificationStatus.CANNOT_NOTIFY: "cannot notify",
    NotificationStatus.CANCELLED: "cancelled",
}

ROLE_NAMES: dict[Role, str] = {
    Role.SENCO: "SENCO",
    Role.TEACHER: "teacher",
    Role.HEADTEACHER: "headteacher",
    Role.PARENT: "parent",
    Role.YOUNG_PERSON: "young person",
    Role.LA_CASEWORKER: "LA caseworker",
    Role.LA_MANAGER: "LA manager",
    Role.PROFESSIONAL: "professional",
    Role.AUDITOR: "auditor",
    Role.DATA_OFFICER: "data officer",
    Role.SYSTEM: "the system",
}


# ---------------------------------------------------------------------------------------------------------
# Words for values


def format_date(value: date | str | None) -> str:
    """`date(2026, 11, 3)` (or "2026-11-03") -> "3 Nov 2026", whatever the machine's locale."""
    if value is None:
        return NOTHING
    if isinstance(value, str):
        text = value
        try:
            value = date.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        return format_datetime(value)
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def format_datetime(value: datetime | str | None) -> str:
    """An instant in Europe/London time: "3 Nov 2026 14:05 GMT". A naive datetime is taken as UTC."""
    if value is None:
        return NOTHING
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(LONDON)
    return f"{format_date(local.date())} {local:%H:%M} {local.tzname()}"


def status_in_words(status: SenStatus | str | None) -> str:
    """ "K" -> "SEN support (K)"."""
    if status is None:
        return NOTHING
    try:
        status = SenStatus(status)
    except ValueError:
        return str(status)
    return f"{STATUS_NAMES[status]} ({status.value})"


def need_in_words(need: NeedType | str | None, *, area: bool = False) -> str:
    """ "ASD" -> "autistic spectrum disorder (ASD)"; with `area`, the broad area of need after it."""
    if need is None or need == "":
        return NOTHING
    try:
        need = NeedType(need)
    except ValueError:
        return str(need)
    words = f"{NEED_NAMES[need]} ({need.value})"
    return f"{words}; {need.broad_area.value}" if area else words


def year_group_in_words(year_group: int | str | None) -> str:
    """Census year groups: 0 is Reception, -1 and -2 (or "N1", "N2") nursery; the rest "Year n"."""
    if year_group is None or year_group == "":
        return "not recorded"
    if isinstance(year_group, str):
        if year_group == "R":
            return "Reception"
        if year_group.startswith("N") and year_group[1:].isdigit():
            return f"Nursery {year_group[1:]}"
        if not year_group.lstrip("-").isdigit():
            return year_group
        year_group = int(year_group)
    if year_group == 0:
        return "Reception"
    if year_group < 0:
        return f"Nursery {-year_group}"
    return f"Year {year_group}"


def duty_in_words(duty: Duty | str) -> str:
    try:
        return DUTY_NAMES[Duty(duty)]
    except ValueError:
        return str(duty).replace("_", " ")


def notification_status_in_words(status: NotificationStatus | str) -> str:
    try:
        return NOTIFICATION_STATUS_NAMES[NotificationStatus(status)]
    except ValueError:
        return str(status).replace("_", " ")


def role_in_words(role: Role | str) -> str:
    try:
        return ROLE_NAMES[Role(role)]
    except ValueError:
        return str(role).replace("_", " ")


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def _share(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _school(urn: str | None) -> str:
    return f"school {urn}" if urn else "every school in the LA"


def _label(field_name: str) -> str:
    """`date_of_birth` -> "date of birth"."""
    return field_name.replace("_", " ")


def _protected(name: str, value: object) -> bool:
    return name == "protected_address" or isinstance(value, PostalAddressForProtection)


def _words(value: object) -> str:
    """Any value in a cell: dates and times as people write them, enums as their words, models inline."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, SenStatus):
        return status_in_words(value)
    if isinstance(value, NeedType):
        return need_in_words(value)
    if isinstance(value, Duty):
        return duty_in_words(value)
    if isinstance(value, NotificationStatus):
        return notification_status_in_words(value)
    if isinstance(value, Role):
        return role_in_words(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, PostalAddressForProtection):
        return HIDDEN
    if isinstance(value, BaseModel):
        return _words(_fields(value))
    if isinstance(value, Mapping):
        return (
            "; ".join(f"{_label(str(k))}: {HIDDEN if _protected(str(k), v) else _words(v)}" for k, v in value.items())
            or NOTHING
        )
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_words(v) for v in value) or NOTHING
    return str(value)


def _fields(model: BaseModel) -> dict[str, Any]:
    """A model's fields in declaration order, the protected address masked."""
    return {
        name: HIDDEN if _protected(name, getattr(model, name)) else getattr(model, name)
        for name in type(model).model_fields
    }


# ---------------------------------------------------------------------------------------------------------
# Text out


Block = RenderableType


def _text(value: object) -> Text:
    """A cell, never read as rich markup."""
    return value if isinstance(value, Text) else Text(value if isinstance(value, str) else _words(value))


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Iterable[str] = ()) -> Table:
    aligned_right = set(right)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="", expand=False)
    for column in columns:
        table.add_column(column, justify="right" if column in aligned_right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(_text(cell) for cell in row))
    return table


def _pairs(pairs: Iterable[tuple[str, Any]]) -> Table:
    """A two-column field/value list."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(Text(f"{name}:"), _text(value))
    return grid


def _print(*blocks: Block | None, width: int = WIDTH) -> str:
    out = StringIO()
    console = Console(
        file=out,
        width=width,
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        force_interactive=False,
        no_color=True,
        markup=False,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    for block in blocks:
        if block is not None:
            console.print(Text(block) if isinstance(block, str) else block)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


# ---------------------------------------------------------------------------------------------------------
# render: one function, dispatched on the result's type


@singledispatch
def render(value: object, width: int = WIDTH) -> str:
    """A query's result as text for a person. Unknown things: their text, or their fields."""
    if value is None:
        return "Nothing.\n"
    if isinstance(value, Mapping):
        return _render_mapping(value, width)
    return f"{_words(value)}\n"


@render.register
def _(value: str, width: int = WIDTH) -> str:
    # The census extract arrives as CSV text: printed exactly as it is, for a data officer to load.
    return value


def _render_mapping(value: Mapping[str, Any], width: int) -> str:
    if set(value) == {"csv"} and isinstance(value["csv"], str):
        return value["csv"]  # the census extract's reply: {"csv": "..."}
    if not value:
        return "Nothing.\n"
    return _print(
        _pairs((_label(str(k)), HIDDEN if _protected(str(k), v) else v) for k, v in value.items()), width=width
    )


@render.register
def _(value: BaseModel, width: int = WIDTH) -> str:
    fields = _fields(value)
    if len(fields) == 1:
        ((name, field_value),) = fields.items()
        return f"{_label(name)}: {_words(field_value)}\n"
    return _print(_pairs((_label(k), v) for k, v in fields.items()), width=width)


@render.register
def _(value: list, width: int = WIDTH) -> str:
    if not value:
        return "Nothing found.\n"
    if all(isinstance(v, HistoryEntry) for v in value):
        return _render_history(value, width)
    if all(isinstance(v, NotificationView) for v in value):
        return _render_notifications(value, width)
    if all(isinstance(v, BaseModel) for v in value):
        return _render_models(value, width)
    return "".join(render(v, width) for v in value)


def _render_models(models: Sequence[BaseModel], width: int) -> str:
    columns = list(dict.fromkeys(name for m in models for name in type(m).model_fields))
    rows = [[_fields(m).get(name) for name in columns] for m in models]
    return _print(_table([_label(c) for c in columns], rows), width=width)


# --- replies ------------------------------------------------------------------------------------------------


@render.register
def _(value: Answered, width: int = WIDTH) -> str:
    return render(value.result, width)


@render.register
def _(value: Accepted, width: int = WIDTH) -> str:
    result = value.result
    if isinstance(result, BaseModel) and len(type(result).model_fields) == 1:  # a reference: "Done." and the id
        return "Done.\n" + render(result, width)
    return render(result, width)


@render.register
def _(value: Rejected, width: int = WIDTH) -> str:
    return render_rejection(value)


def render_rejection(rejected: Rejected) -> str:
    """What was refused, in one line, then each wrong field as "field: problem".

    A field's path loses its envelope prefix ("command.pupil.upn" -> "pupil.upn"): the person typed the
    field, not the envelope. An internal error gives its correlation id, for whoever looks in the logs.
    """
    message = " ".join(rejected.message.split()) or rejected.code.value.replace("_", " ")
    lines = [message]
    if rejected.code == RejectionCode.INTERNAL_ERROR and rejected.correlation_id is not None:
        lines[0] += f" (reference {rejected.correlation_id})"
    for error in rejected.field_errors:
        field = error.field
        for prefix in ("command.", "query."):
            if field.startswith(prefix):
                field = field[len(prefix) :]
                break
        lines.append(f"{field}: {error.problem}")
    return "\n".join(lines) + "\n"


# --- register -----------------------------------------------------------------------------------------------


@render.register
def _(value: CensusFile, width: int = WIDTH) -> str:
    return value.csv  # the census extract: printed exactly as it is, for a data officer to load


@render.register
def _(value: PostalAddressForProtection, width: int = WIDTH) -> str:
    return f"protected address: {HIDDEN}\n"


@render.register
def _(pupil: PupilView, width: int = WIDTH) -> str:
    looked_after = _yes_no(pupil.looked_after)
    if pupil.looked_after:
        looked_after += f"; PEP {pupil.pep_reference}" if pupil.pep_reference else "; no PEP reference recorded"
    if pupil.protected_address_held:
        looked_after += f"; protected address {HIDDEN}"
    medical = _yes_no(pupil.medical_needs)
    if pupil.healthcare_plan_reference:
        medical += f"; healthcare plan {pupil.healthcare_plan_reference}"
    card = _pairs(
        [
            ("UPN", pupil.upn),
            ("Born", format_date(pupil.date_of_birth)),
            ("School", f"URN {pupil.school_urn}"),
            ("Year group", year_group_in_words(pupil.year_group)),
            ("SEN status", status_in_words(pupil.status)),
            ("Primary need", need_in_words(pupil.primary_need, area=True)),
            ("Secondary need", need_in_words(pupil.secondary_need, area=True)),
            (
                "Monitoring list",
                "yes: a concern is noted (monitoring, not on the SEN register)" if pupil.on_monitoring_list else "no",
            ),
            ("Looked after", looked_after),
            ("EAL", _yes_no(pupil.eal)),
            ("Medical needs", medical),
            ("Consent to share", _consent_in_words(pupil.consent_to_share)),
            ("EHC plans", ", ".join(f"case {case}" for case in pupil.ehc_plans) or "none"),
            ("Young person from", _young_person_in_words(pupil.young_person_from, pupil.young_persons_wish)),
        ]
    )
    transfer = (
        f"Moved here from school {pupil.awaiting_acknowledgement_from}: "
        "the receiving SENCO has not yet acknowledged the record."
        if pupil.awaiting_acknowledgement_from
        else None
    )
    return _print(
        f"{pupil.given_name} {pupil.family_name}",
        card,
        transfer,
        *_people_blocks(pupil.people_with_parental_responsibility),
        *_status_history_blocks(pupil.history),
        width=width,
    )


def _consent_in_words(consent: Mapping[str, str | None] | None) -> str:
    if not consent:
        return "not recorded"
    by = consent.get("given_by_name") or "someone"
    giver = (consent.get("given_by") or "").replace("_", " ")
    words = f"given by {by}" + (f" ({giver})" if giver else "")
    if consent.get("given_on"):
        words += f" on {format_date(consent['given_on'])}"
    if consent.get("withdrawn_on"):
        words = f"withdrawn on {format_date(consent['withdrawn_on'])} (was {words})"
    return words


WISHES = {
    "parents_told": "the young person agrees that their parents are told too",
    "parents_not_told": "the young person does not want their parents told",
    "lacks_capacity": "the young person lacks capacity: their parents act for them",
}


def _young_person_in_words(young_person_from: date | None, wish: Any) -> str:
    """From when the pupil is over compulsory school age (their notices go to them), and what they said."""
    if young_person_from is None:
        return NOTHING
    words = f"{format_date(young_person_from)} (over compulsory school age: notices go to them)"
    if wish is not None:
        words += f"; {WISHES.get(getattr(wish, 'value', wish), str(wish))}"
    return words


def _people_blocks(people: Sequence[PersonToTell]) -> list[Block]:
    if not people:
        return ["", "People with parental responsibility: none recorded"]
    rows = [
        [
            p.name,
            p.relationship,
            _yes_no(p.has_parental_responsibility),
            p.preferred_channel.value,
            p.needs.in_words if p.needs else NOTHING,
        ]
        for p in people
    ]  # their contact details and addresses are for sending, not for this card
    return [
        "",
        "People to tell",
        _table(["Name", "Relationship", "Parental responsibility", "Preferred channel", "Needs"], rows),
    ]


def _status_history_blocks(history: Sequence[PupilStatusChange]) -> list[Block]:
    if not history:
        return ["", "Status history: no changes recorded"]
    rows = []
    for change in history:
        needs = need_in_words(change.primary_need)
        if change.secondary_need is not None:
            needs += f", then {need_in_words(change.secondary_need)}"
        reason = change.reason + (f" (evidence: {change.evidence_reference})" if change.evidence_reference else "")
        rows.append(
            [
                format_date(change.effective_date),
                status_in_words(change.status),
                needs,
                reason,
                f"{change.by_user} ({role_in_words(change.by_role)}, {change.by_organisation})",
                format_datetime(change.recorded_at),
            ]
        )
    return ["", "Status history", _table(["Effective", "Status", "Needs", "Reason", "By", "Recorded"], rows)]


@render.register
def _(register: RegisterAsAt, width: int = WIDTH) -> str:
    rows = [
        [
            e.upn,
            f"{e.given_name} {e.family_name}",
            year_group_in_words(e.year_group),
            status_in_words(e.status),
            need_in_words(e.primary_need),
            need_in_words(e.secondary_need),
        ]
        for e in register.entries
    ]
    on_register = len(register.entries)
    support = sum(e.status == SenStatus.SEN_SUPPORT for e in register.entries)
    plans = sum(e.status == SenStatus.EHC_PLAN for e in register.entries)
    summary = (
        f"{on_register} of {register.roll} pupils on the roll are on the SEN register "
        f"({support} SEN support, {plans} EHC plan), as at {format_date(register.as_at)}."
    )
    table = (
        _table(["UPN", "Name", "Year group", "Status", "Primary need", "Secondary need"], rows)
        if rows
        else "Nobody is on the SEN register."
    )
    return _print(
        f"SEN register of {_school(register.school_urn)} as at {format_date(register.as_at)}",
        table,
        "",
        summary,
        width=width,
    )


@render.register
def _(counts: RegisterCounts, width: int = WIDTH) -> str:
    national = f"National ({counts.national_label})"
    on_register = counts.sen_support + counts.ehc_plan
    totals = _table(
        ["", "Pupils", "% of roll", national],
        [
            [
                "SEN support (K)",
                counts.sen_support,
                _percent(counts.sen_support_percent),
                _percent(counts.national_sen_support_percent),
            ],
            [
                "EHC plan (E)",
                counts.ehc_plan,
                _percent(counts.ehc_plan_percent),
                _percent(counts.national_ehc_plan_percent),
            ],
            [
                "On the SEN register",
                on_register,
                _percent(_share(on_register, counts.roll)),
                _percent(counts.national_sen_support_percent + counts.national_ehc_plan_percent),
            ],
        ],
        right=["Pupils", "% of roll", national],
    )
    return _print(
        f"SEN counts for {_school(counts.school_urn)} as at {format_date(counts.as_at)}: "
        f"{counts.roll} pupils on the roll",
        totals,
        "",
        "By year group (percentages of the year group's roll)",
        _count_lines(counts.by_year_group, "Year group", year_group_in_words, with_roll=True),
        "",
        "By primary need (percentages of the whole roll)",
        _count_lines(counts.by_primary_need, "Primary need", need_in_words, with_roll=False),
        width=width,
    )


def _count_lines(lines: Sequence[CountLine], key: str, words: Callable[[str], str], *, with_roll: bool) -> Block:
    if not lines:
        return "none"
    columns = [key, *(["Roll"] if with_roll else []), "SEN support", "%", "EHC plan", "%"]
    rows = [
        [
            words(line.key),
            *([line.roll] if with_roll else []),
            line.sen_support,
            _percent(line.sen_support_percent),
            line.ehc_plan,
            _percent(line.ehc_plan_percent),
        ]
        for line in lines
    ]
    return _table(columns, rows, right=columns[1:])


@render.register
def _(report: RollImportReport, width: int = WIDTH) -> str:
    counts = _pairs(
        [
            ("Rows read", report.rows),
            ("Enrolled", report.enrolled),
            ("Updated", report.updated),
            ("Unchanged", report.unchanged),
            ("Rejected", len(report.rejected)),
        ]
    )
    rejected: Block = (
        _table(["Line", "Field", "Problem"], [[r.row, r.field, r.problem] for r in report.rejected], right=["Line"])
        if report.rejected
        else "No rows were rejected."
    )
    return _print(
        f"Roll import of {report.file_name} for school {report.school_urn} (import {report.import_id})",
        counts,
        "",
        "Rejected rows (line 1 is the header)" if report.rejected else None,
        rejected,
        width=width,
    )


def _render_history(entries: Sequence[HistoryEntry], width: int) -> str:
    rows = []
    for e in entries:
        detail = e.detail + (f" (evidence: {e.evidence_reference})" if e.evidence_reference else "")
        rows.append(
            [
                format_datetime(e.recorded_at),
                format_date(e.effective_date),
                e.what,
                detail or NOTHING,
                f"{e.by_user} ({role_in_words(e.by_role)}, {e.by_organisation})",
            ]
        )
    return _print(_table(["Recorded", "Effective", "What", "Detail", "By"], rows), width=width)


# --- notifications ------------------------------------------------------------------------------------------


def _render_notifications(notifications: Sequence[NotificationView], width: int) -> str:
    rows = []
    with_needs = any(n.needs for n in notifications)  # a column only when someone has needs to meet
    for n in notifications:
        reason = n.reason or ""
        if n.unreachable_channels:
            unreachable = "could not reach by " + ", ".join(n.unreachable_channels)
            reason = f"{reason}; {unreachable}" if reason else unreachable
        channel = n.channel or NOTHING
        if n.companion_of is not None:
            channel += " (the complete letter)"
        rows.append(
            [
                format_date(n.owed_since),
                n.reference or NOTHING,
                duty_in_words(n.duty),
                n.recipients,
                *([n.needs or NOTHING] if with_needs else []),
                channel,
                notification_status_in_words(n.status),
                reason or NOTHING,
            ]
        )
    count = len(notifications)
    needs_heading = ["Needs (language, format)"] if with_needs else []
    return _print(
        _table(["Owed since", "Reference", "Duty", "To", *needs_heading, "Channel", "Status", "Reason"], rows),
        "",
        f"{count} notification{'s' if count != 1 else ''}.",
        width=width,
    )


def render_message(n: NotificationView) -> str:
    """One message as a caseworker on the phone needs it: whom it was to (and what they need to read it), who it was
    from, its date and reference, where it stands, and the complete letter."""
    lines = [
        f"Reference {n.reference or n.notification_id}: {duty_in_words(n.duty)}",
        f"To:        {n.recipients}",
    ]
    if n.needs:
        lines.append(f"Needs:     {n.needs} (arrange the letter in this form, or an interpreter)")
    if n.sender:
        lines.append(f"From:      {n.sender}")
    if n.dated_on:
        lines.append(f"Dated:     {format_date(n.dated_on)}")
    lines.append(f"Status:    {notification_status_in_words(n.status)}" + (f" by {n.channel}" if n.channel else ""))
    if n.subject:
        lines.append(f"Subject:   {n.subject}")
    text = n.letter or n.body
    if text:
        lines += ["", text.rstrip()]
    return "\n".join(lines) + "\n"


@render.register
def _(counts: CountsView, width: int = WIDTH) -> str:
    order = {status.value: i for i, status in enumerate(NotificationStatus)}

    def ordered(statuses: Iterable[str]) -> list[str]:
        return sorted(statuses, key=lambda s: (order.get(s, len(order)), s))

    by_status = (
        _table(
            ["Status", "Notifications"],
            [[notification_status_in_words(s), counts.by_status[s]] for s in ordered(counts.by_status)],
            right=["Notifications"],
        )
        if counts.by_status
        else "none"
    )
    statuses = ordered({s for per_duty in counts.by_duty.values() for s in per_duty})
    by_duty: Block = (
        _table(
            ["Duty", *(notification_status_in_words(s) for s in statuses), "Total"],
            [
                [duty_in_words(duty), *(per.get(s, 0) for s in statuses), sum(per.values())]
                for duty, per in counts.by_duty.items()
            ],
            right=[*(notification_status_in_words(s) for s in statuses), "Total"],
        )
        if counts.by_duty
        else "none"
    )
    return _print(
        f"Notifications for {_school(counts.school_urn)}: {counts.total} in all",
        "",
        "By status",
        by_status,
        "",
        "By duty",
        by_duty,
        width=width,
    )
