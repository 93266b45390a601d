"""The `sendcase` command."""

from __future__ import annotations

import asyncio
import signal

import typer

from contracts.subjects import DEFAULT_PREFIX
from infra.cli import notifications as notifications_commands
from infra.cli import register as register_commands
from infra.cli.common import HomeOption

app = typer.Typer(help="sendcase: SEND case management for a local authority.", no_args_is_help=True)
app.add_typer(register_commands.app, name="register")
app.add_typer(notifications_commands.app, name="notifications")


@app.command()
def up(home: HomeOption = None, prefix: str = typer.Option(DEFAULT_PREFIX, envvar="SENDCASE_SUBJECT_PREFIX")) -> None:
    """Start PostgreSQL, NATS and every service on this machine; Ctrl-C stops them all."""
    from infra.stack.servers import sendcase_home
    from infra.stack.supervisor import up as run_up

    raise typer.Exit(run_up(sendcase_home(home), prefix, echo=lambda m: typer.echo(m)))


@app.command()
def down(home: HomeOption = None) -> None:
    """Stop the stack that `sendcase up` started (from another terminal)."""
    from infra.stack.servers import StackState, pid_alive, sendcase_home, stop_pid

    state = StackState.load(sendcase_home(home))
    if state is None or not pid_alive(state.supervisor_pid):
        typer.echo("sendcase is not running.")
        raise typer.Exit(0)
    stop_pid(state.supervisor_pid, signal.SIGTERM, timeout=90, expect=("sendcase", "infra.cli"))
    typer.echo("sendcase stopped.")


@app.command()
def serve(service: str) -> None:
    """Run one service against the PostgreSQL and NATS given by environment variables (production)."""
    from infra.stack.catalogue import bootstrap_for
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
    from infra.stack.status import check

    rows, all_up = asyncio.run(check(home))
    for name, ok, detail in rows:
        typer.echo(f"  {name:<14}{'up  ' if ok else 'DOWN'}  {detail}")
    raise typer.Exit(0 if all_up else 1)


@app.command()
def demo(home: HomeOption = None) -> None:
    """A SENCO adds a pupil to SEN support: see the fact reach notifications, the parents' email and letter
    in the outbox, then a small LA's rolls imported and its register and counts as at census day."""
    from infra.demo.walkthrough import run_demo

    raise typer.Exit(asyncio.run(run_demo(home, typer.echo)))

