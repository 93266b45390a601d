"""What every service's subcommands share: who is acting, finding the stack, showing a reply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from contracts.envelope import Actor, Role

HomeOption = Annotated[
    Optional[Path], typer.Option("--home", envvar="SENDCASE_HOME", help="Data folder (default ./.sendcase).")
]
UserOption = Annotated[str, typer.Option("--as-user", envvar="SENDCASE_USER", help="Who you are.")]
RoleOption = Annotated[Role, typer.Option("--as-role", envvar="SENDCASE_ROLE", help="Your role.")]
OrgOption = Annotated[
    str, typer.Option("--as-org", envvar="SENDCASE_ORGANISATION", help="school:<URN> or la:<code>.")
]


def client(home: Path | None, user: str, role: Role, org: str):
    from infra.cli.locate import Client, StackNotRunning, locate

    try:
        nats_url, prefix = locate(home)
    except StackNotRunning as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    return Client(nats_url, prefix, Actor(user_id=user, role=role, organisation=org))


def show(reply: Any) -> None:
    """Print a reply as JSON; a rejection exits 1 so scripts can tell."""
    typer.echo(json.dumps(reply.model_dump(mode="json"), indent=2))
    if reply.outcome == "rejected":
        raise typer.Exit(1)
