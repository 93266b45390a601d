"""`sendcase register ...`: the SEN register, as a SENCO, an LA officer or a data officer works it.

Every command and query of the register service. Who you are comes from --as-user/--as-role/--as-org (or
SENDCASE_USER / SENDCASE_ROLE / SENDCASE_ORGANISATION); a SENCO's organisation defaults to their school.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from contracts.envelope import Role
from contracts.identifiers import NeedType
from contracts.people import Channel, PersonToTell
from contracts.register import (
    AcknowledgeTransfer,
    AddToSenSupport,
    CensusExtract,
    ChangeNeeds,
    EnrolPupil,
    GetPupil,
    GetRollImport,
    GiveConsentToShare,
    ImportRoll,
    LaCounts,
    NoteConcern,
    PostalAddressForProtection,
    PupilHistory,
    RecordLookedAfter,
    RecordOtherRegisters,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
    RemoveFromSenRegister,
    SchoolRegister,
    TransferPupil,
    WithdrawConsentToShare,
)
from infra.cli.common import HomeOption, OrgOption, RoleOption, UserOption, client, show

app = typer.Typer(help="The SEN register: the roll, SEN status and needs, transfers, census.", no_args_is_help=True)

Day = Annotated[Optional[str], typer.Option(help="YYYY-MM-DD (default today)")]
Reason = Annotated[str, typer.Option(help="Why, in your words.")]
Evidence = Annotated[Optional[str], typer.Option("--evidence", help="Evidence reference, e.g. 'APDR review 3 Nov'.")]


def _build(model: type, **values: Any) -> Any:
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as e:
        for err in e.errors():
            typer.echo(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}", err=True)
        raise typer.Exit(2) from None


def _day(value: str | None) -> str:
    return value or date.today().isoformat()


def _send(home: Path | None, user: str, role: Role, org: str, message: Any, *, query: bool = False) -> Any:
    async def go():
        async with client(home, user, role, org) as c:
            return await (c.query(message) if query else c.command(message))

    return asyncio.run(go())


def _org(org: str, school: str | None = None) -> str:
    return org or (f"school:{school}" if school else "")


@app.command("import-roll")
def import_roll(
    school: Annotated[str, typer.Option(help="School URN (6 digits).")],
    csv_file: Annotated[Path, typer.Argument(help="The roll exported from the school's MIS, as CSV.", exists=True)],
    as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "",
    on_roll_from: Day = None, home: HomeOption = None,
) -> None:
    """Import a school's roll. Re-importing the same file is refused and changes nothing; bad rows are listed."""
    command = _build(ImportRoll, school_urn=school, file_name=csv_file.name,
                     csv_text=csv_file.read_text(encoding="utf-8-sig", errors="replace"), on_roll_from=_day(on_roll_from))
    reply = _send(home, as_user, as_role, _org(as_org, school), command)
    if reply.outcome == "accepted":
        report = _send(home, as_user, as_role, _org(as_org, school), GetRollImport(import_id=reply.ids["import_id"]), query=True)
        show(report)
        return
    show(reply)


@app.command("enrol")
def enrol(
    school: Annotated[str, typer.Option()], upn: Annotated[str, typer.Option()],
    given_name: Annotated[str, typer.Option()], family_name: Annotated[str, typer.Option()],
    date_of_birth: Annotated[str, typer.Option(help="YYYY-MM-DD")], as_user: UserOption,
    as_role: RoleOption = Role.SENCO, as_org: OrgOption = "",
    year_group: Annotated[Optional[int], typer.Option(help="0 = Reception; default from the date of birth")] = None,
    on_roll_from: Day = None, home: HomeOption = None,
) -> None:
    """Put one pupil on the school's roll."""
    command = _build(EnrolPupil, school_urn=school, pupil={"upn": upn, "given_name": given_name,
                     "family_name": family_name, "date_of_birth": date_of_birth},
                     year_group=year_group, on_roll_from=_day(on_roll_from))
    show(_send(home, as_user, as_role, _org(as_org, school), command))


@app.command("add-to-sen-support")
def add_to_sen_support(
    school: Annotated[str, typer.Option(help="School URN (6 digits).")],
    upn: Annotated[str, typer.Option(help="Unique pupil number.")],
    given_name: Annotated[str, typer.Option()],
    family_name: Annotated[str, typer.Option()],
    date_of_birth: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    primary_need: Annotated[NeedType, typer.Option()],
    reason: Reason,
    as_user: UserOption,
    as_role: RoleOption = Role.SENCO,
    as_org: OrgOption = "",
    secondary_need: Annotated[Optional[NeedType], typer.Option()] = None,
    effective_date: Day = None,
    evidence: Evidence = None,
    home: HomeOption = None,
) -> None:
    """Add a pupil to the SEN register at SEN support (K)."""
    command = _build(
        AddToSenSupport, school_urn=school,
        pupil={"upn": upn, "given_name": given_name, "family_name": family_name, "date_of_birth": date_of_birth},
        primary_need=primary_need, secondary_need=secondary_need, effective_date=_day(effective_date),
        reason=reason, evidence_reference=evidence,
    )
    show(_send(home, as_user, as_role, _org(as_org, school), command))


@app.command("note-concern")
def note_concern(
    upn: str, note: Annotated[str, typer.Option(help="A short note of the concern.")], as_user: UserOption,
    as_role: RoleOption = Role.SENCO, as_org: OrgOption = "", noted_on: Day = None, home: HomeOption = None,
) -> None:
    """Put a pupil on the monitoring / cause for concern list (NOT the SEN register)."""
    show(_send(home, as_user, as_role, as_org, _build(NoteConcern, upn=upn, note=note, noted_on=_day(noted_on))))


@app.command("change-needs")
def change_needs(
    upn: str, primary_need: Annotated[NeedType, typer.Option()], reason: Reason, as_user: UserOption,
    as_role: RoleOption = Role.SENCO, as_org: OrgOption = "",
    secondary_need: Annotated[Optional[NeedType], typer.Option()] = None, effective_date: Day = None,
    evidence: Evidence = None, home: HomeOption = None,
) -> None:
    """Change a pupil's ranked need types (primary, secondary)."""
    command = _build(ChangeNeeds, upn=upn, primary_need=primary_need, secondary_need=secondary_need,
                     effective_date=_day(effective_date), reason=reason, evidence_reference=evidence)
    show(_send(home, as_user, as_role, as_org, command))


@app.command("remove")
def remove(
    upn: str, reason: Reason, as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "",
    effective_date: Day = None, evidence: Evidence = None, home: HomeOption = None,
) -> None:
    """Take a pupil off the SEN register (K -> N). Parents are told."""
    command = _build(RemoveFromSenRegister, upn=upn, effective_date=_day(effective_date), reason=reason,
                     evidence_reference=evidence)
    show(_send(home, as_user, as_role, as_org, command))


@app.command("record-provision")
def record_provision(
    upn: str, provision: Annotated[str, typer.Option(help="What is being provided, in plain words.")],
    as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "", effective_date: Day = None,
    home: HomeOption = None,
) -> None:
    """Record special educational provision being made. Parents are told (CFA 2014 s.68)."""
    command = _build(RecordSenProvision, upn=upn, provision=provision, effective_date=_day(effective_date))
    show(_send(home, as_user, as_role, as_org, command))


@app.command("parents")
def parents(
    upn: str,
    person: Annotated[list[str], typer.Option(help="name|relationship|email|mobile|channel (repeat per person)")],
    as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "", home: HomeOption = None,
) -> None:
    """Record everyone with parental responsibility (replaces the list)."""
    from contracts.envelope import derived_id

    people = []
    for i, spec in enumerate(person, start=1):
        name, relationship, email, mobile, channel = (spec.split("|") + ["", "", "", "", ""])[:5]
        people.append(_build(
            PersonToTell, person_id=derived_id("person", upn, i, name), name=name, relationship=relationship or "parent",
            has_parental_responsibility=True, email=email or None, mobile=mobile or None,
            preferred_channel=Channel(channel or ("email" if email else "letter")),
        ))
    show(_send(home, as_user, as_role, as_org, _build(RecordPeopleWithParentalResponsibility, upn=upn, people=people)))


@app.command("looked-after")
def looked_after(
    upn: str, as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "",
    pep: Annotated[Optional[str], typer.Option(help="PEP reference; omit with --not-looked-after")] = None,
    protected_address: Annotated[Optional[str], typer.Option(help="'line 1; line 2; town; postcode' (never published)")] = None,
    not_looked_after: Annotated[bool, typer.Option("--not-looked-after")] = False, home: HomeOption = None,
) -> None:
    """Record that a child is looked after (PEP, protected address), or no longer is."""
    address = None
    if protected_address:
        parts = [p.strip() for p in protected_address.split(";") if p.strip()]
        address = _build(PostalAddressForProtection, lines=parts[:-2], town=parts[-2] if len(parts) > 1 else "",
                         postcode=parts[-1])
    command = _build(RecordLookedAfter, upn=upn, looked_after=not not_looked_after, pep_reference=pep,
                     protected_address=address)
    show(_send(home, as_user, as_role, as_org, command))


@app.command("other-registers")
def other_registers(
    upn: str, as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "",
    eal: Annotated[bool, typer.Option("--eal/--no-eal")] = False,
    medical: Annotated[bool, typer.Option("--medical/--no-medical")] = False,
    healthcare_plan: Annotated[Optional[str], typer.Option(help="Individual healthcare plan reference")] = None,
    home: HomeOption = None,
) -> None:
    """Record EAL and medical needs (with an individual healthcare plan)."""
    command = _build(RecordOtherRegisters, upn=upn, eal=eal, medical_needs=medical, healthcare_plan_reference=healthcare_plan)
    show(_send(home, as_user, as_role, as_org, command))


@app.command("consent")
def consent(
    upn: str, given_by: Annotated[str, typer.Option(help="parent or young_person")],
    given_by_name: Annotated[str, typer.Option()], as_user: UserOption, as_role: RoleOption = Role.SENCO,
    as_org: OrgOption = "", given_on: Day = None, home: HomeOption = None,
) -> None:
    """Record consent to share (a parent, or the young person at 16+)."""
    command = _build(GiveConsentToShare, upn=upn, given_by=given_by, given_by_name=given_by_name, given_on=_day(given_on))
    show(_send(home, as_user, as_role, as_org, command))


@app.command("withdraw-consent")
def withdraw_consent(
    upn: str, as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "",
    withdrawn_on: Day = None, home: HomeOption = None,
) -> None:
    """Record that consent to share was withdrawn."""
    show(_send(home, as_user, as_role, as_org, _build(WithdrawConsentToShare, upn=upn, withdrawn_on=_day(withdrawn_on))))


@app.command("transfer")
def transfer(
    upn: str, to_school: Annotated[str, typer.Option(help="The receiving school's URN.")], reason: Reason,
    as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "", leaving_date: Day = None,
    home: HomeOption = None,
) -> None:
    """The pupil leaves for another school: the whole record moves."""
    command = _build(TransferPupil, upn=upn, to_school_urn=to_school, leaving_date=_day(leaving_date), reason=reason)
    show(_send(home, as_user, as_role, as_org, command))


@app.command("acknowledge-transfer")
def acknowledge_transfer(
    upn: str, as_user: UserOption, as_role: RoleOption = Role.SENCO, as_org: OrgOption = "",
    received_on: Day = None, home: HomeOption = None,
) -> None:
    """The receiving school's SENCO confirms the record arrived."""
    show(_send(home, as_user, as_role, as_org, _build(AcknowledgeTransfer, upn=upn, received_on=_day(received_on))))


@app.command("pupil")
def pupil(upn: str, as_user: UserOption, as_role: RoleOption, as_org: OrgOption, home: HomeOption = None) -> None:
    """A pupil's register record and the history of their SEN status."""
    show(_send(home, as_user, as_role, as_org, _build(GetPupil, upn=upn), query=True))


@app.command("history")
def history(upn: str, as_user: UserOption, as_role: RoleOption, as_org: OrgOption, home: HomeOption = None) -> None:
    """Everything that happened to a pupil's record: who, when, why."""
    show(_send(home, as_user, as_role, as_org, _build(PupilHistory, upn=upn), query=True))


@app.command("school-register")
def school_register(
    as_user: UserOption, as_role: RoleOption, as_org: OrgOption,
    school: Annotated[Optional[str], typer.Argument(help="School URN; omit for the whole LA")] = None,
    as_at: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD: the register as it stood that day")] = None,
    as_known_at: Annotated[Optional[str], typer.Option(help="ISO date-time: as the register knew it then")] = None,
    home: HomeOption = None,
) -> None:
    """One school's SEN register (or the whole LA's), now or as at a past date."""
    show(_send(home, as_user, as_role, as_org, _build(SchoolRegister, school_urn=school, as_at=as_at, as_known_at=as_known_at), query=True))


@app.command("counts")
def counts(
    as_user: UserOption, as_role: RoleOption, as_org: OrgOption,
    school: Annotated[Optional[str], typer.Option(help="One school; default the whole LA")] = None,
    as_at: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD")] = None,
    as_known_at: Annotated[Optional[str], typer.Option(help="ISO date-time: as the register knew it then")] = None,
    home: HomeOption = None,
) -> None:
    """Counts by status, year group and need, as a percentage of the roll, beside the national figures."""
    show(_send(home, as_user, as_role, as_org, _build(LaCounts, school_urn=school, as_at=as_at, as_known_at=as_known_at), query=True))


@app.command("census-extract")
def census_extract(
    census_date: Annotated[str, typer.Argument(help="The census day, YYYY-MM-DD")],
    as_user: UserOption, as_role: RoleOption, as_org: OrgOption,
    school: Annotated[Optional[str], typer.Option(help="One school; default the whole LA")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the CSV here")] = None,
    as_known_at: Annotated[Optional[str], typer.Option(help="ISO date-time: as the register knew it then")] = None,
    home: HomeOption = None,
) -> None:
    """The census SEN extract (CSV with the DfE codes) as at a census day."""
    reply = _send(home, as_user, as_role, as_org, _build(CensusExtract, school_urn=school, census_date=census_date, as_known_at=as_known_at), query=True)
    if reply.outcome != "answered":
        show(reply)
        return
    if output:
        output.write_text(reply.result["csv"])
        typer.echo(json.dumps({"written": str(output), "lines": reply.result["csv"].count("\n")}))
    else:
        typer.echo(reply.result["csv"], nl=False)
