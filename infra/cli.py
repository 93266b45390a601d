"""The `sendcase` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Optional
from uuid import UUID

import typer

from contracts.envelope import Actor, Role
from contracts.identifiers import NeedType
from contracts.notifications import NotificationsForPupil
from contracts.register import AddToSenSupport, GetPupil, PupilIdentity
from contracts.subjects import DEFAULT_PREFIX

app = typer.Typer(help="sendcase: SEND case management for a local authority.", no_args_is_help=True)
register_app = typer.Typer(help="The SEN register (commands a SENCO uses).", no_args_is_help=True)
notifications_app = typer.Typer(help="Notifications owed and sent.", no_args_is_help=True)
app.add_typer(register_app, name="register")
app.add_typer(notifications_app, name="notifications")

HomeOption = Annotated[
    Optional[Path], typer.Option("--home", envvar="SENDCASE_HOME", help="Data folder (default ./.sendcase).")
]
UserOption = Annotated[str, typer.Option("--as-user", envvar="SENDCASE_USER", help="Who you are.")]
RoleOption = Annotated[Role, typer.Option("--as-role", envvar="SENDCASE_ROLE", help="Your role.")]
OrgOption = Annotated[
    str, typer.Option("--as-org", envvar="SENDCASE_ORGANISATION", help="school:<URN> or la:<code>.")
]


@app.command()
def up(home: HomeOption = None, prefix: str = typer.Option(DEFAULT_PREFIX, envvar="SENDCASE_SUBJECT_PREFIX")) -> None:
    """Start PostgreSQL, NATS and every service on this machine; Ctrl-C stops them all."""
    from infra.stack import sendcase_home
    from infra.supervisor import up as run_up

    raise typer.Exit(run_up(sendcase_home(home), prefix, echo=lambda m: typer.echo(m)))


@app.command()
def down(home: HomeOption = None) -> None:
    """Stop the stack that `sendcase up` started (from another terminal)."""
    from infra.stack import StackState, pid_alive, sendcase_home, stop_pid

    state = StackState.load(sendcase_home(home))
    if state is None or not pid_alive(state.supervisor_pid):
        typer.echo("sendcase is not running.")
        raise typer.Exit(0)
    stop_pid(state.supervisor_pid, signal.SIGTERM, timeout=90, expect="sendcase")
    typer.echo("sendcase stopped.")


@app.command()
def serve(service: str) -> None:
    """Run one service against the PostgreSQL and NATS given by environment variables (production)."""
    from infra.catalogue import bootstrap_for
    from services.runtime.service import run_service
    from services.runtime.settings import load_settings

    try:
        bootstrap = bootstrap_for(service)
    except KeyError as e:
        typer.echo(str(e.args[0]), err=True)
        raise typer.Exit(2) from None
    asyncio.run(run_service(bootstrap, load_settings(service)))


@app.command()
def status(home: HomeOption = None) -> None:
    """Is each server and service up? Exits non-zero when anything is down."""
    from infra.status import check

    rows, all_up = asyncio.run(check(home))
    for name, ok, detail in rows:
        typer.echo(f"  {name:<14}{'up  ' if ok else 'DOWN'}  {detail}")
    raise typer.Exit(0 if all_up else 1)


@app.command()
def demo(home: HomeOption = None) -> None:
    """Add a demo pupil to SEN support and show the fact reaching the notifications service."""
    from infra.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(home, typer.echo)))


def _client(home: Path | None, user: str, role: Role, org: str):
    from infra.client import Client, StackNotRunning, locate

    try:
        nats_url, prefix = locate(home)
    except StackNotRunning as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    return Client(nats_url, prefix, Actor(user_id=user, role=role, organisation=org))


def _show(reply) -> None:
    typer.echo(json.dumps(reply.model_dump(mode="json"), indent=2))
    if reply.outcome == "rejected":
        raise typer.Exit(1)


@register_app.command("add-to-sen-support")
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
        async with _client(home, as_user, as_role, as_org or f"school:{school}") as client:
            return await client.command(command)

    _show(asyncio.run(go()))


@register_app.command("pupil")
def pupil(
    upn: str, as_user: UserOption, as_role: RoleOption, as_org: OrgOption, home: HomeOption = None
) -> None:
    """A pupil's register record and the history of their SEN status."""

    async def go():
        async with _client(home, as_user, as_role, as_org) as client:
            return await client.query(GetPupil(upn=upn))

    _show(asyncio.run(go()))


@notifications_app.command("for-pupil")
def for_pupil(
    pupil_id: UUID, as_user: UserOption, as_role: RoleOption, as_org: OrgOption, home: HomeOption = None
) -> None:
    """Every notification owed or sent about a pupil, in order."""

    async def go():
        async with _client(home, as_user, as_role, as_org) as client:
            return await client.query(NotificationsForPupil(pupil_id=pupil_id))

    _show(asyncio.run(go()))


if __name__ == "__main__":
    app()
