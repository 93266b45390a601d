"""`sendcase notifications ...`: what was owed, to whom, and whether it arrived."""

from __future__ import annotations

import asyncio
from uuid import UUID

import typer

from contracts.notifications import NotificationsForPupil
from infra.commands.common import HomeOption, OrgOption, RoleOption, UserOption, client, show

app = typer.Typer(help="Notifications owed and sent.", no_args_is_help=True)


@app.command("for-pupil")
def for_pupil(
    pupil_id: UUID, as_user: UserOption, as_role: RoleOption, as_org: OrgOption, home: HomeOption = None
) -> None:
    """Every notification owed or sent about a pupil, in order."""

    async def go():
        async with client(home, as_user, as_role, as_org) as c:
            return await c.query(NotificationsForPupil(pupil_id=pupil_id))

    show(asyncio.run(go()))
