"""`sendcase notifications ...`: what was owed, to whom, with which content, and whether it arrived."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional
from uuid import UUID

import typer

from contracts.notifications import (
    FailedToReach,
    NotificationCounts,
    NotificationsForCase,
    NotificationsForPupil,
    UndeliveredNotifications,
)
from infra.cli.common import HomeOption, OrgOption, RoleOption, UserOption, client, show

app = typer.Typer(help="Notifications owed and sent.", no_args_is_help=True)

SchoolOption = Annotated[Optional[str], typer.Option("--school", help="One school's URN (default: the whole LA).")]


def _build(model, **values):
    """The query, or a clear message naming the field and exit code 2 (as the register's commands do)."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as e:
        for err in e.errors():
            typer.echo(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}", err=True)
        raise typer.Exit(2) from None


def _ask(home, user, role, org, query) -> None:
    async def go():
        async with client(home, user, role, org) as c:
            return await c.query(query)

    show(asyncio.run(go()))


@app.command("for-pupil")
def for_pupil(
    pupil_id: UUID, as_user: UserOption, as_role: RoleOption, as_org: OrgOption, home: HomeOption = None
) -> None:
    """Every notification about a pupil, in order, with its content and delivery history."""
    _ask(home, as_user, as_role, as_org, NotificationsForPupil(pupil_id=pupil_id))


@app.command("for-case")
def for_case(case_id: UUID, as_user: UserOption, as_role: RoleOption, as_org: OrgOption, home: HomeOption = None) -> None:
    """Every notification about an EHC case, in order, with its content and delivery history."""
    _ask(home, as_user, as_role, as_org, NotificationsForCase(case_id=case_id))


@app.command("undelivered")
def undelivered(
    as_user: UserOption, as_role: RoleOption, as_org: OrgOption, school: SchoolOption = None, home: HomeOption = None
) -> None:
    """Everything not yet delivered: waiting, retrying, failed, or impossible to send."""
    _ask(home, as_user, as_role, as_org, _build(UndeliveredNotifications, school_urn=school))


@app.command("failed-to-reach")
def failed_to_reach(
    as_user: UserOption, as_role: RoleOption, as_org: OrgOption, school: SchoolOption = None, home: HomeOption = None
) -> None:
    """People we could not reach (on some channel, or at all), with the reason: the list to act on."""
    _ask(home, as_user, as_role, as_org, _build(FailedToReach, school_urn=school))


@app.command("counts")
def counts(
    as_user: UserOption, as_role: RoleOption, as_org: OrgOption, school: SchoolOption = None, home: HomeOption = None
) -> None:
    """How many notifications, by status and by duty, for one school or the whole LA."""
    _ask(home, as_user, as_role, as_org, _build(NotificationCounts, school_urn=school))


@app.command("outbox")
def outbox(
    pupil_ids: list[UUID], home: HomeOption = None,
    folder: Annotated[Optional[Path], typer.Option(help="The outbox folder, if not <home>/outbox.")] = None,
) -> None:
    """Show the letters, emails and texts the local file channel wrote for these pupils."""
    from infra.demo.outbox import show_outbox

    shown = show_outbox(pupil_ids, home, echo=typer.echo, outbox_dir=folder)
    raise typer.Exit(0 if shown else 1)
