"""`sendcase register ...`: the SEN register, as a SENCO works it."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Optional

import typer

from contracts.envelope import Role
from contracts.identifiers import NeedType
from contracts.register import AddToSenSupport, GetPupil, PupilIdentity
from infra.commands.common import HomeOption, OrgOption, RoleOption, UserOption, client, show

app = typer.Typer(help="The SEN register (commands a SENCO uses).", no_args_is_help=True)


@app.command("add-to-sen-support")
def add_to_sen_support(
    school: Annotated[str, typer.Option(help="School URN (6 digits).")],
    upn: Annotated[str, typer.Option(help="Unique pupil number.")],
    given_name: Annotated[str, typer.Option()],
    family_name: Annotated[str, typer.Option()],
    date_of_birth: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    primary_need: Annotated[NeedType, typer.Option()],
    reason: Annotated[str, typer.Option(help="Why, in your words.")],
    as_user: UserOption,
    as_role: RoleOption = Role.SENCO,
    as_org: OrgOption = "",
    secondary_need: Annotated[Optional[NeedType], typer.Option()] = None,
    effective_date: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD, default today")] = None,
    evidence: Annotated[Optional[str], typer.Option(help="Evidence reference.")] = None,
    home: HomeOption = None,
) -> None:
    """Add a pupil to the SEN register at SEN support (K)."""
    from pydantic import ValidationError

    try:
        command = AddToSenSupport(
            school_urn=school,
            pupil=PupilIdentity(upn=upn, given_name=given_name, family_name=family_name, date_of_birth=date_of_birth),
            primary_need=primary_need, secondary_need=secondary_need,
            effective_date=effective_date or date.today().isoformat(), reason=reason, evidence_reference=evidence,
        )
    except ValidationError as e:
        for err in e.errors():
            typer.echo(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}", err=True)
        raise typer.Exit(2) from None

    async def go():
        async with client(home, as_user, as_role, as_org or f"school:{school}") as c:
            return await c.command(command)

    show(asyncio.run(go()))


@app.command("pupil")
def pupil(upn: str, as_user: UserOption, as_role: RoleOption, as_org: OrgOption, home: HomeOption = None) -> None:
    """A pupil's register record and the history of their SEN status."""

    async def go():
        async with client(home, as_user, as_role, as_org) as c:
            return await c.query(GetPupil(upn=upn))

    show(asyncio.run(go()))
