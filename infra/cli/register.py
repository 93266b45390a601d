"""`sendcase register ...`: the SEN register, as a SENCO, an LA officer or a data officer works it.

Every command and query of the register service. Who you are is said once, before `register` (see
`sendcase --help`): --as-user/--as-role/--as-org, or SENDCASE_USER / SENDCASE_ROLE / SENDCASE_ORGANISATION;
a SENCO's organisation defaults to the school the command names. Dates are YYYY-MM-DD and default to today
in England.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from contracts.envelope import Accepted
from contracts.identifiers import NeedType
from contracts.people import Channel, CommunicationNeeds, Format, PersonToTell, YoungPersonsWish
from contracts.register import (
    AcceptInvitation,
    AcknowledgeTransfer,
    AddToSenSupport,
    CensusExtract,
    ChangeNeeds,
    EnrolPupil,
    ErasePupil,
    GetPupil,
    GiveConsentToShare,
    ImportRoll,
    InvitePerson,
    LaCounts,
    LegalHoldKind,
    LiftLegalHold,
    MyChildren,
    NoteConcern,
    PlaceLegalHold,
    PostalAddressForProtection,
    PupilHistory,
    PupilIdentity,
    RecordLookedAfter,
    RecordOtherRegisters,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
    RemoveFromSenRegister,
    RevokeAccess,
    RollImportReport,
    SchoolRegister,
    TransferPupil,
    WithdrawConsentToShare,
)
from infra.cli.common import (
    DAY_FORMATS,
    KnownAt,
    as_json,
    build,
    day,
    fail,
    instant,
    send,
    send_pages,
    session,
    show,
    use_cli_keys,
)
from services.runtime.keyring import person_id_for, pupil_id_for

app = typer.Typer(help="The SEN register: the roll, SEN status and needs, transfers, census.", no_args_is_help=True)


def _date_option(help: str) -> typer.models.OptionInfo:
    return typer.Option(formats=DAY_FORMATS, metavar="YYYY-MM-DD", help=help)


Day = Annotated[datetime | None, _date_option("YYYY-MM-DD (default: today in England).")]
Born = Annotated[datetime, _date_option("Date of birth, YYYY-MM-DD.")]
Upn = Annotated[str, typer.Argument(help="The pupil's UPN (13 characters, e.g. X801200000001).", show_default=False)]
UpnOption = Annotated[str, typer.Option(help="The pupil's UPN (13 characters).")]
School = Annotated[str, typer.Option(help="School URN (6 digits).")]
SomeSchool = Annotated[str | None, typer.Option(help="One school's URN (default: the whole LA).")]
Reason = Annotated[str, typer.Option(help="Why, in your words.")]
Evidence = Annotated[str | None, typer.Option("--evidence", help="Evidence reference, e.g. 'APDR review 3 Nov'.")]
Need = Annotated[NeedType, typer.Option(help="DfE type-of-need code.")]
OtherNeed = Annotated[NeedType | None, typer.Option(help="DfE type-of-need code.")]


def _identity(upn: str, given_name: str, family_name: str, date_of_birth: datetime) -> PupilIdentity:
    return build(
        PupilIdentity,
        prefix="pupil.",
        upn=upn,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth.date(),
    )


@app.command("import-roll")
def import_roll(
    ctx: typer.Context,
    school: School,
    csv_file: Annotated[
        Path,
        typer.Argument(
            help="The roll exported from the school's MIS, as CSV.", exists=True, dir_okay=False, readable=True
        ),
    ],
    on_roll_from: Day = None,
) -> None:
    """Import a school's roll. Re-importing the same file is refused and changes nothing; bad rows are listed.

    Exit code 0 when at least one row was taken (any rejected rows are listed), 1 when every row was
    rejected or the import was refused, 2 for bad input."""
    command = build(
        ImportRoll,
        school_urn=school,
        file_name=csv_file.name,
        csv_text=csv_file.read_text(encoding="utf-8-sig", errors="replace"),
        on_roll_from=day(on_roll_from),
    )
    reply = send(ctx, command, school=school)
    show(ctx, reply)
    if isinstance(reply, Accepted) and isinstance(reply.result, RollImportReport):
        report = reply.result
        if report.rejected and report.enrolled + report.updated + report.unchanged == 0:
            if not session(ctx).json:
                typer.echo(f"Every row of {report.file_name} was rejected: nothing was imported.", err=True)
            raise typer.Exit(1)


@app.command("enrol")
def enrol(
    ctx: typer.Context,
    school: School,
    upn: UpnOption,
    given_name: Annotated[str, typer.Option()],
    family_name: Annotated[str, typer.Option()],
    date_of_birth: Born,
    year_group: Annotated[int | None, typer.Option(help="0 = Reception; default from the date of birth")] = None,
    on_roll_from: Day = None,
) -> None:
    """Put one pupil on the school's roll."""
    command = build(
        EnrolPupil,
        school_urn=school,
        pupil=_identity(upn, given_name, family_name, date_of_birth),
        year_group=year_group,
        on_roll_from=day(on_roll_from),
    )
    show(ctx, send(ctx, command, school=school))


@app.command("add-to-sen-support")
def add_to_sen_support(
    ctx: typer.Context,
    school: School,
    upn: UpnOption,
    given_name: Annotated[str, typer.Option()],
    family_name: Annotated[str, typer.Option()],
    date_of_birth: Born,
    primary_need: Need,
    reason: Reason,
    secondary_need: OtherNeed = None,
    effective_date: Day = None,
    evidence: Evidence = None,
) -> None:
    """Add a pupil to the SEN register at SEN support (K). Parents are told."""
    command = build(
        AddToSenSupport,
        school_urn=school,
        pupil=_identity(upn, given_name, family_name, date_of_birth),
        primary_need=primary_need,
        secondary_need=secondary_need,
        effective_date=day(effective_date),
        reason=reason,
        evidence_reference=evidence,
    )
    show(ctx, send(ctx, command, school=school))


@app.command("note-concern")
def note_concern(
    ctx: typer.Context,
    upn: Upn,
    note: Annotated[str, typer.Option(help="A short note of the concern.")],
    noted_on: Day = None,
) -> None:
    """Put a pupil on the monitoring / cause for concern list (NOT the SEN register)."""
    show(ctx, send(ctx, build(NoteConcern, upn=upn, note=note, noted_on=day(noted_on))))


@app.command("change-needs")
def change_needs(
    ctx: typer.Context,
    upn: Upn,
    primary_need: Need,
    reason: Reason,
    secondary_need: OtherNeed = None,
    effective_date: Day = None,
    evidence: Evidence = None,
) -> None:
    """Change a pupil's ranked need types (primary, secondary)."""
    command = build(
        ChangeNeeds,
        upn=upn,
        primary_need=primary_need,
        secondary_need=secondary_need,
        effective_date=day(effective_date),
        reason=reason,
        evidence_reference=evidence,
    )
    show(ctx, send(ctx, command))


@app.command("remove")
def remove(ctx: typer.Context, upn: Upn, reason: Reason, effective_date: Day = None, evidence: Evidence = None) -> None:
    """Take a pupil off the SEN register (K -> N). Parents are told."""
    command = build(
        RemoveFromSenRegister, upn=upn, effective_date=day(effective_date), reason=reason, evidence_reference=evidence
    )
    show(ctx, send(ctx, command))


@app.command("record-provision")
def record_provision(
    ctx: typer.Context,
    upn: Upn,
    provision: Annotated[str, typer.Option(help="What is being provided, in plain words.")],
    effective_date: Day = None,
) -> None:
    """Record special educational provision being made. Parents are told (CFA 2014 s.68)."""
    command = build(RecordSenProvision, upn=upn, provision=provision, effective_date=day(effective_date))
    show(ctx, send(ctx, command))


PERSON_PARTS = ("name", "relationship", "email", "mobile", "channel", "needs")
CHANNELS = ", ".join(c.value for c in Channel)
FORMATS = {f.value.replace("_", "-"): f for f in Format} | {f.value: f for f in Format}


def parse_needs(spec: str, needs: str, number: int) -> CommunicationNeeds | None:
    """The sixth part of a --person: comma-separated, a language code ('ur', 'pl', 'bfi'), 'interpreter', and formats
    ('large-print', 'easy-read', 'braille', 'audio'). Empty: none."""
    if not needs:
        return None
    language, interpreter, formats = None, False, []
    for token in (t.strip().lower() for t in needs.split(",") if t.strip()):
        if token == "interpreter":
            interpreter = True
        elif token in FORMATS:
            formats.append(FORMATS[token])
        elif language is None:
            language = token
        else:
            fail(
                f"--person {spec!r}: needs {needs!r}: one language at most ({language!r}, then {token!r}); the needs "
                "are a language code, interpreter, large-print, easy-read, braille and audio"
            )
    return build(
        CommunicationNeeds,
        prefix=f"person {number}: needs: ",
        language=language,
        interpreter=interpreter,
        formats=formats,
    )


def parse_person(upn: str, number: int, spec: str, home: Path | None = None) -> PersonToTell:
    """One --person 'name|relationship|email|mobile|channel|needs' as a PersonToTell (or one line and exit 2)."""
    parts = spec.split("|")
    if len(parts) > len(PERSON_PARTS):
        fail(f"--person {spec!r}: at most {len(PERSON_PARTS)} parts, name|relationship|email|mobile|channel|needs")
    name, relationship, email, mobile, channel, needs = (
        p.strip() for p in parts + [""] * (len(PERSON_PARTS) - len(parts))
    )
    if channel and channel.lower() not in {c.value for c in Channel}:
        fail(f"--person {spec!r}: {channel!r} is not a channel; the channels are {CHANNELS}")
    communication_needs = parse_needs(spec, needs, number)  # checked before anything is looked up
    use_cli_keys(home)  # a person's id comes from the keyed blind index, as the roll import makes it
    relationship = relationship or "parent"
    return build(
        PersonToTell,
        prefix=f"person {number}: ",
        person_id=person_id_for(upn, number, name),
        name=name,
        relationship=relationship,
        # everyone named here has parental responsibility, but the young person themself
        has_parental_responsibility=relationship.lower() != "young person",
        email=email or None,
        mobile=mobile or None,
        preferred_channel=Channel(channel.lower() or ("email" if email else "letter")),
        needs=communication_needs,
    )


@app.command("parents")
def parents(
    ctx: typer.Context,
    upn: Upn,
    person: Annotated[
        list[str],
        typer.Option(
            metavar="'NAME|RELATIONSHIP|EMAIL|MOBILE|CHANNEL|NEEDS'",
            help=f"One person with parental responsibility, or the young person themself (relationship 'young "
            f"person'); repeat per person. Leave a part empty to omit it; the channel is one of {CHANNELS} (default "
            "email if an email is given, else letter); the needs, comma-separated: a language code (ur, pl, zh, "
            "bfi...), interpreter, large-print, easy-read, braille, audio. "
            "Example: --person 'Jo Taylor|mother|jo@example.org||email|ur,interpreter'",
        ),
    ],
    young_persons_wish: Annotated[
        str | None,
        typer.Option(
            help="A young person over compulsory school age: parents_told (they agree their parents are told too), "
            "parents_not_told, or lacks_capacity (their parents act for them). Not given: as recorded."
        ),
    ] = None,
) -> None:
    """Record everyone with parental responsibility, and the young person (replaces the list)."""
    if young_persons_wish is not None and young_persons_wish not in {w.value for w in YoungPersonsWish}:
        fail(
            f"young_persons_wish: Input should be {', '.join(repr(w.value) for w in list(YoungPersonsWish)[:-1])} or "
            f"{list(YoungPersonsWish)[-1].value!r}, not {young_persons_wish!r}"
        )
    people = [parse_person(upn, i, spec, session(ctx).home) for i, spec in enumerate(person, start=1)]
    command = build(
        RecordPeopleWithParentalResponsibility, upn=upn, people=people, young_persons_wish=young_persons_wish
    )
    show(ctx, send(ctx, command))


@app.command("looked-after")
def looked_after(
    ctx: typer.Context,
    upn: Upn,
    pep: Annotated[str | None, typer.Option(help="PEP reference; omit with --not-looked-after")] = None,
    protected_address: Annotated[
        str | None, typer.Option(help="'line 1; line 2; town; postcode' (kept by the register, never published)")
    ] = None,
    not_looked_after: Annotated[bool, typer.Option("--not-looked-after")] = False,
) -> None:
    """Record that a child is looked after (PEP, protected address), or no longer is."""
    address = None
    if protected_address is not None:
        parts = [p.strip() for p in protected_address.split(";") if p.strip()]
        if len(parts) < 3:
            fail("--protected-address: give 'line 1; town; postcode' at least (parts separated by ';')")
        address = build(
            PostalAddressForProtection,
            prefix="protected_address.",
            lines=parts[:-2],
            town=parts[-2],
            postcode=parts[-1],
        )
    command = build(
        RecordLookedAfter, upn=upn, looked_after=not not_looked_after, pep_reference=pep, protected_address=address
    )
    show(ctx, send(ctx, command))


@app.command("other-registers")
def other_registers(
    ctx: typer.Context,
    upn: Upn,
    eal: Annotated[bool, typer.Option("--eal/--no-eal")] = False,
    medical: Annotated[bool, typer.Option("--medical/--no-medical")] = False,
    healthcare_plan: Annotated[str | None, typer.Option(help="Individual healthcare plan reference")] = None,
) -> None:
    """Record EAL and medical needs (with an individual healthcare plan)."""
    command = build(
        RecordOtherRegisters, upn=upn, eal=eal, medical_needs=medical, healthcare_plan_reference=healthcare_plan
    )
    show(ctx, send(ctx, command))


class GivenBy(StrEnum):
    PARENT = "parent"
    YOUNG_PERSON = "young_person"


@app.command("consent")
def consent(
    ctx: typer.Context,
    upn: Upn,
    given_by: Annotated[GivenBy, typer.Option(help="Who gave it: a parent, or the young person (16+).")],
    given_by_name: Annotated[str, typer.Option()],
    given_on: Day = None,
) -> None:
    """Record consent to share (a parent, or the young person at 16+)."""
    command = build(
        GiveConsentToShare, upn=upn, given_by=given_by.value, given_by_name=given_by_name, given_on=day(given_on)
    )
    show(ctx, send(ctx, command))


@app.command("withdraw-consent")
def withdraw_consent(ctx: typer.Context, upn: Upn, withdrawn_on: Day = None) -> None:
    """Record that consent to share was withdrawn."""
    show(ctx, send(ctx, build(WithdrawConsentToShare, upn=upn, withdrawn_on=day(withdrawn_on))))


@app.command("transfer")
def transfer(
    ctx: typer.Context,
    upn: Upn,
    to_school: Annotated[str, typer.Option(help="The receiving school's URN.")],
    reason: Reason,
    leaving_date: Day = None,
) -> None:
    """The pupil leaves for another school: the whole record moves."""
    command = build(TransferPupil, upn=upn, to_school_urn=to_school, leaving_date=day(leaving_date), reason=reason)
    show(ctx, send(ctx, command))


@app.command("acknowledge-transfer")
def acknowledge_transfer(ctx: typer.Context, upn: Upn, received_on: Day = None) -> None:
    """The receiving school's SENCO confirms the record arrived."""
    show(ctx, send(ctx, build(AcknowledgeTransfer, upn=upn, received_on=day(received_on))))


@app.command("pupil")
def pupil(ctx: typer.Context, upn: Upn) -> None:
    """A pupil's register record and the history of their SEN status."""
    show(ctx, send(ctx, build(GetPupil, upn=upn)))


@app.command("history")
def history(ctx: typer.Context, upn: Upn) -> None:
    """Everything that happened to a pupil's record: who, when, why."""
    show(ctx, send(ctx, build(PupilHistory, upn=upn)))


AsAt = Annotated[datetime | None, _date_option("YYYY-MM-DD: as it stood that day (default: today).")]


@app.command("school-register")
def school_register(
    ctx: typer.Context,
    school: Annotated[str | None, typer.Argument(help="School URN; omit for the whole LA")] = None,
    as_at: AsAt = None,
    as_known_at: KnownAt = None,
) -> None:
    """One school's SEN register (or the whole LA's), now or as at a past date."""
    query = build(
        SchoolRegister, school_urn=school, as_at=as_at.date() if as_at else None, as_known_at=instant(as_known_at)
    )
    show(ctx, send_pages(ctx, query, items="entries", school=school))


@app.command("counts")
def counts(ctx: typer.Context, school: SomeSchool = None, as_at: AsAt = None, as_known_at: KnownAt = None) -> None:
    """Counts by status, year group and need, as a percentage of the roll, beside the national figures."""
    query = build(LaCounts, school_urn=school, as_at=as_at.date() if as_at else None, as_known_at=instant(as_known_at))
    show(ctx, send(ctx, query, school=school))


@app.command("census-extract")
def census_extract(
    ctx: typer.Context,
    census_date: Annotated[
        datetime,
        typer.Argument(
            formats=DAY_FORMATS, metavar="CENSUS_DAY", help="The census day, YYYY-MM-DD.", show_default=False
        ),
    ],
    school: SomeSchool = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the CSV here")] = None,
    as_known_at: KnownAt = None,
) -> None:
    """The census SEN extract (CSV with the DfE codes) as at a census day: printed, or written with -o."""
    query = build(CensusExtract, school_urn=school, census_date=census_date.date(), as_known_at=instant(as_known_at))
    reply = send_pages(ctx, query, items="csv", school=school)
    if reply.outcome != "answered" or output is None:
        show(ctx, reply)  # without -o the text is the CSV itself, ready to redirect to a file
        return
    csv = reply.result.csv
    try:
        output.write_text(csv)
    except OSError as e:
        fail(f"--output {output}: cannot write it ({e.strerror or e})")
    lines = csv.count("\n")
    if session(ctx).json:
        typer.echo(as_json({"written": str(output), "lines": lines, "erased": reply.result.erased}))
    else:
        typer.echo(f"Wrote the census extract as at {census_date.date()} to {output} ({lines} lines).")
        if reply.result.erased:
            typer.echo(f"NOTE: {reply.result.notice}.", err=True)


# ------------------------------------------------------------------------------------------------------------
# Legal holds and erasure (docs/audit.md, "Retention and legal holds"): the LA's officers


def pupil_named(ctx: typer.Context, upn: str | None, pupil_id: str | None) -> UUID:
    """The pupil an LA officer names: by UPN (their id worked out with the deployment's keys, as the register
    does) or by the pupil id a retention report shows. One of the two, or one line and exit 2."""
    if (upn is None) == (pupil_id is None):
        fail("Name the pupil: --upn <UPN> or --pupil-id <id from `sendcase audit retention`> (one of the two).")
    if pupil_id is not None:
        try:
            return UUID(pupil_id)
        except ValueError:
            fail(f"--pupil-id {pupil_id!r} is not a pupil id (`sendcase audit retention` shows them)")
    use_cli_keys(session(ctx).home)
    try:
        return pupil_id_for(upn or "")
    except ValueError as e:
        fail(f"--upn: {e}")


UpnOf = Annotated[str | None, typer.Option("--upn", help="The pupil's UPN.")]
PupilId = Annotated[str | None, typer.Option("--pupil-id", help="Or the pupil's id (as retention reports show it).")]
HoldReference = Annotated[
    str, typer.Option("--reference", help="The appeal's, complaint's or claim's own reference, e.g. EH840/26/00123.")
]


@app.command("hold")
def hold(
    ctx: typer.Context,
    kind: Annotated[LegalHoldKind, typer.Option(help="What the hold is for.")],
    reference: HoldReference,
    upn: UpnOf = None,
    pupil_id: PupilId = None,
    placed_on: Day = None,
) -> None:
    """Place a legal hold on a child's record (an appeal, an Ombudsman investigation, litigation): nothing of it is
    erased, by the retention job or anyone, until the hold is lifted. LA caseworkers, managers, data officers."""
    who = pupil_named(ctx, upn, pupil_id)
    command = build(PlaceLegalHold, pupil_id=who, kind=kind, reference=reference, placed_on=day(placed_on))
    show(ctx, send(ctx, command))


@app.command("lift-hold")
def lift_hold(
    ctx: typer.Context,
    reference: HoldReference,
    upn: UpnOf = None,
    pupil_id: PupilId = None,
    lifted_on: Day = None,
) -> None:
    """Lift a legal hold: the matter is closed, and the LA's retention schedule decides again."""
    who = pupil_named(ctx, upn, pupil_id)
    show(ctx, send(ctx, build(LiftLegalHold, pupil_id=who, reference=reference, lifted_on=day(lifted_on))))


@app.command("erase")
def erase(
    ctx: typer.Context,
    rule: Annotated[
        str,
        typer.Option(
            help="Why: the rule of the LA's retention schedule, or the decision, that requires it, e.g. "
            "'sen-records: date of birth + 31 years'. Kept with the erasure."
        ),
    ],
    upn: UpnOf = None,
    pupil_id: PupilId = None,
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking (for a script).")] = False,
) -> None:
    """Erase a child's personal data from every service, for good: their key is destroyed, and the keys of the
    people named on their record whom no record still kept names. The statutory facts stay. Refused under a legal
    hold. The LA's data officer or a manager. (`sendcase audit retention` lists whom the schedule requires.)"""
    who = pupil_named(ctx, upn, pupil_id)
    command = build(ErasePupil, pupil_id=who, rule=rule)
    if not yes and not typer.confirm(f"Erase pupil {who}'s personal data for good, under {rule!r}?", err=True):
        fail("Nothing was erased.", code=1)
    show(ctx, send(ctx, command))


# ------------------------------------------------------------------------------------------------------------
# Families see a child's record through a verified invitation (docs/register.md, "Families")


def person_on_record(ctx: typer.Context, upn: str, person: str | None, person_id: str | None) -> UUID:
    """The person a SENCO names: by the id the pupil's record gives them, or by their name as recorded (looked up in
    the record the SENCO may read). One of the two, or one line and exit 2."""
    if (person is None) == (person_id is None):
        fail("Name the person: --person '<their name as recorded>' or --person-id <id> (one of the two).")
    if person_id is not None:
        try:
            return UUID(person_id)
        except ValueError:
            fail(f"--person-id {person_id!r} is not a person's id (`sendcase --json register pupil <UPN>` shows them)")
    reply = send(ctx, build(GetPupil, upn=upn))
    if reply.outcome != "answered":
        show(ctx, reply)
    wanted = " ".join((person or "").split()).casefold()
    found = [p for p in reply.result.people_with_parental_responsibility if p.name.casefold() == wanted]
    if len(found) != 1:
        names = ", ".join(f"{p.name} ({p.relationship})" for p in reply.result.people_with_parental_responsibility)
        problem = "Nobody called" if not found else f"{len(found)} people are called"
        fail(f"--person: {problem} {person!r} on this pupil's record; recorded: {names or 'nobody'}")
    return found[0].person_id


PersonName = Annotated[str | None, typer.Option("--person", help="Their name, as recorded on the pupil's record.")]
PersonId = Annotated[str | None, typer.Option("--person-id", help="Or their id on the pupil's record.")]


@app.command("invite")
def invite(
    ctx: typer.Context,
    upn: Upn,
    invited_by: Annotated[
        str, typer.Option("--invited-by", help="Who you are, as the family knows you, e.g. 'Mrs A Khan, SENCO'.")
    ],
    person: PersonName = None,
    person_id: PersonId = None,
) -> None:
    """Invite a person with parental responsibility recorded for the pupil (or the young person, 16 or over) to see
    the pupil's record: a one-time code is sent to the contact details recorded for them, valid for 14 days. A newer
    invitation replaces an older one. The pupil's school's SENCO, or an LA caseworker."""
    who = person_on_record(ctx, upn, person, person_id)
    show(ctx, send(ctx, build(InvitePerson, upn=upn, person_id=who, invited_by_name=invited_by)))


@app.command("revoke-access")
def revoke_access(
    ctx: typer.Context,
    upn: Upn,
    reason: Reason,
    person: PersonName = None,
    person_id: PersonId = None,
) -> None:
    """End a person's access to the pupil's record: their access, and any invitation still waiting for them. The
    pupil's school's SENCO, or an LA caseworker."""
    who = person_on_record(ctx, upn, person, person_id)
    show(ctx, send(ctx, build(RevokeAccess, upn=upn, person_id=who, reason=reason)))


@app.command("accept-invitation")
def accept_invitation(
    ctx: typer.Context,
    code: Annotated[
        str, typer.Argument(help="The code you were sent, e.g. K7QM-3XD9-TWPA.", show_default=False, metavar="CODE")
    ],
) -> None:
    """As a parent or young person, signed in as yourself (--as-role parent --as-org citizen): enter the code you were
    sent, to see the child's record. Each code works once; wrong codes lock code entry for a while."""
    show(ctx, send(ctx, build(AcceptInvitation, code=code)))


@app.command("my-children")
def my_children(ctx: typer.Context) -> None:
    """As a parent or young person: the children whose records you may see (`sendcase register pupil <UPN>`)."""
    show(ctx, send(ctx, MyChildren()))
