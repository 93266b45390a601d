"""`sendcase projections ...`: the events a service's read models could not take (parked), for an operator.

A read model that cannot apply an event parks it (recorded with its error and position) and carries on;
the service reports itself DEGRADED in `sendcase status` until the parked events are retried (after the
cause is fixed) or skipped with a reason. Acting as an LA manager (see `sendcase --help`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from contracts.envelope import ParkedEventsAction, ParkedEventsAnswer
from infra.cli.common import as_json, exchange, fail, session
from infra.cli.render import format_datetime, render_rejection
from infra.stack.catalogue import SERVICES

app = typer.Typer(help="Events a read model could not take: list, retry, skip.", no_args_is_help=True)

Service = Annotated[str, typer.Argument(help=f"The service: {', '.join(SERVICES)}.")]
Projection = Annotated[str | None, typer.Option(help="One read model (default: all of the service's).")]


def _ask(ctx: typer.Context, service: str, action: str, projection: str | None, reason: str | None = None) -> None:
    if service not in SERVICES:
        fail(f"sendcase: no service called {service!r}; the services are {', '.join(SERVICES)}")

    async def ask(client: object) -> object:
        request = ParkedEventsAction(actor=client.actor, action=action, projection=projection, reason=reason)  # type: ignore[attr-defined]
        return await client.parked_events(service, request)  # type: ignore[attr-defined]

    answer = exchange(ctx, service, ask)
    if session(ctx).json:
        typer.echo(as_json(answer))
    if not isinstance(answer, ParkedEventsAnswer):
        if not session(ctx).json:
            typer.echo(render_rejection(answer), err=True, nl=False)
        raise typer.Exit(1)
    if session(ctx).json:
        return
    if action == "retry":
        typer.echo(f"Retried: {answer.retried} applied, {answer.still_parked} still cannot be applied.")
    if action == "skip":
        typer.echo(f"Skipped {answer.skipped} parked event(s); the reason is kept beside each.")
    if not answer.parked:
        typer.echo(f"No events are parked in {service}'s read models.")
        return
    typer.echo(f"{len(answer.parked)} event(s) parked in {service}'s read models:")
    for p in answer.parked:
        typer.echo(
            f"  {p.projection} at position {p.position} ({p.topic}), since {format_datetime(p.parked_at)}, "
            f"{p.attempts} attempt(s): {p.error}"
        )


@app.command("parked")
def parked(ctx: typer.Context, service: Service, projection: Projection = None) -> None:
    """The events a service's read models parked, with the error each met."""
    _ask(ctx, service, "list", projection)


@app.command("retry")
def retry(ctx: typer.Context, service: Service, projection: Projection = None) -> None:
    """Apply the parked events again (after the cause is fixed), oldest first."""
    _ask(ctx, service, "retry", projection)


@app.command("skip")
def skip(
    ctx: typer.Context,
    service: Service,
    reason: Annotated[str, typer.Option(help="Why they are skipped: kept beside each, for the auditor.")],
    projection: Projection = None,
) -> None:
    """Give up on the parked events (the view goes on without them); a rebuild replays them later."""
    _ask(ctx, service, "skip", projection, reason)
