"""The `sendcase` command.

Who is acting is said once, before the command, and holds for it:

    sendcase --as-user a.khan@school.sch.uk --as-role senco register pupil X801200000001
    export SENDCASE_USER=a.khan@school.sch.uk SENDCASE_ROLE=senco SENDCASE_ORGANISATION=school:123456

Replies are printed as text for a person; `sendcase --json ...` prints them as JSON for a script.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # newer typer carries its own copy of click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption, UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import (  # type: ignore[assignment]
        ClickException,
        NoArgsIsHelpError,
        NoSuchOption,
        UsageError,
    )
from typer import Abort

from contracts.envelope import Role
from contracts.subjects import DEFAULT_PREFIX
from infra.cli import audit as audit_commands
from infra.cli import keys as keys_commands
from infra.cli import notifications as notifications_commands
from infra.cli import projections as projections_commands
from infra.cli import register as register_commands
from infra.cli.common import HomeOption, Session, session


class OneLineErrors(TyperGroup):
    """A usage error (a bad or missing option, a value of the wrong type) is one line on stderr and exit
    code 2, as click means it, without the boxed panel; `--help` says the rest."""

    def main(  # type: ignore[override]  # the same parameters; click's own typing differs across versions
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as e:  # the help is printed already
            sys.exit(e.exit_code)
        except UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "sendcase"
            typer.echo(f"{where}: {_one_line(e.format_message())} {_hint(e) or f'(see `{where} --help`)'}", err=True)
            sys.exit(e.exit_code)
        except ClickException as e:
            typer.echo(f"sendcase: {_one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


_FORMATS = re.compile(r"does not match the formats? ('[^']*'(?:, )?)+\.?")


def _formats_in_words(match: re.Match[str]) -> str:
    if "%H" in match.group(0):
        return "is not a date-time: write it like 2026-10-01T17:00 (England time) or 2026-10-01T16:00:00+00:00."
    return "is not a date: write it YYYY-MM-DD, e.g. 2026-10-01."


def _one_line(message: str) -> str:
    message = _FORMATS.sub(_formats_in_words, message.replace("Value error, ", ""))
    return " ".join(message.split())


ACTING = ("--as-user", "--as-role", "--as-org", "--json")


def _hint(error: UsageError) -> str:
    """`sendcase register pupil X --as-user u`: say where the option goes."""
    if isinstance(error, NoSuchOption) and error.option_name in ACTING:
        return (
            f"({error.option_name} goes before the command: `sendcase {error.option_name} ... register ...`; "
            "or set it in the environment: see `sendcase --help`)"
        )
    return ""


app = typer.Typer(
    cls=OneLineErrors,
    help="sendcase: SEND case management for a local authority.\n\n"
    "Say who you are once, before the command: `sendcase --as-user <id> --as-role <role> --as-org "
    "<school:URN or la:code> register ...`, or set SENDCASE_USER, SENDCASE_ROLE and "
    "SENDCASE_ORGANISATION. A SENCO who names a school acts for it. Replies are text; --json gives JSON.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a bug's traceback must never print a pupil's record
)
app.add_typer(register_commands.app, name="register")
app.add_typer(notifications_commands.app, name="notifications")
app.add_typer(projections_commands.app, name="projections")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(keys_commands.app, name="keys")


@app.callback()
def acting(
    ctx: typer.Context,
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as-user",
            envvar="SENDCASE_USER",
            help="Who you are: your user id (e.g. your email).",
            rich_help_panel="Who is acting",
        ),
    ] = None,
    as_role: Annotated[
        Role | None,
        typer.Option("--as-role", envvar="SENDCASE_ROLE", help="Your role.", rich_help_panel="Who is acting"),
    ] = None,
    as_org: Annotated[
        str | None,
        typer.Option(
            "--as-org",
            envvar="SENDCASE_ORGANISATION",
            help="Who you act for: school:<URN> or la:<code>. Default for a SENCO, teacher or headteacher: the "
            "school the command names.",
            rich_help_panel="Who is acting",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print replies as JSON, for scripts.")] = False,
    home: HomeOption = None,
) -> None:
    """Who is acting (for every register and notifications command), and how replies are printed."""
    ctx.obj = Session(user=as_user, role=as_role, organisation=as_org, home=home, json=json_output)


def _home(ctx: typer.Context, home: Path | None) -> Path | None:
    return home if home is not None else session(ctx).home


@app.command()
def up(
    ctx: typer.Context,
    home: HomeOption = None,
    prefix: str = typer.Option(DEFAULT_PREFIX, envvar="SENDCASE_SUBJECT_PREFIX"),
) -> None:
    """Start PostgreSQL, NATS and every service on this machine; Ctrl-C stops them all."""
    from infra.stack.servers import sendcase_home
    from infra.stack.supervisor import up as run_up

    raise typer.Exit(run_up(sendcase_home(_home(ctx, home)), prefix, echo=lambda m: typer.echo(m)))


@app.command()
def down(ctx: typer.Context, home: HomeOption = None) -> None:
    """Stop the stack that `sendcase up` started (from another terminal), servers it restarted included."""
    from infra.stack.servers import StackState, pid_alive, sendcase_home, stop_pid
    from infra.stack.supervisor import stop_leftovers

    where = sendcase_home(_home(ctx, home))
    state = StackState.load(where)
    running = state is not None and pid_alive(state.supervisor_pid)
    if state is not None and running:
        # it stops the services, then NATS, then PostgreSQL: the ones running now, restarted or not
        stop_pid(state.supervisor_pid, signal.SIGTERM, timeout=90, expect=("sendcase", "infra.cli"))
        state = StackState.load(where) or state  # with the pids of anything it restarted meanwhile
    left = stop_leftovers(where, state) if state is not None else []
    if left:
        typer.echo(f"stopped what was left running without `sendcase up`: {'; '.join(left)}")
    typer.echo("sendcase stopped." if running or left else "sendcase is not running.")


@app.command()
def serve(service: str) -> None:
    """Run one service against the PostgreSQL and NATS given by environment variables (production); `gateway` runs
    the gateway (SENDCASE_GATEWAY_*: docs/security.md)."""
    import os

    from infra.stack.catalogue import GATEWAY, bootstrap_for

    if service == GATEWAY:
        _serve_gateway()
        return
    from services.runtime.anchors import ensure_signing_key
    from services.runtime.errors import ConfigurationError
    from services.runtime.service import run_service
    from services.runtime.settings import load_settings

    try:
        bootstrap = bootstrap_for(service)
    except KeyError as e:
        typer.echo(str(e.args[0]), err=True)
        raise typer.Exit(2) from None
    settings = load_settings(service)
    if settings.anchor_signing_key is None and os.environ.get("SENDCASE_HOME"):
        # the embedded stack's key, made on first use in $SENDCASE_HOME/keys (production gives its own: docs/audit.md)
        settings.anchor_signing_key = str(ensure_signing_key(Path(os.environ["SENDCASE_HOME"]) / "keys"))
    try:
        asyncio.run(run_service(bootstrap, settings))
    except ConfigurationError as e:  # e.g. a retention schedule that is not right: the line at fault, not a traceback
        typer.echo(f"sendcase serve {service}: {e}", err=True)
        raise typer.Exit(2) from None


@app.command("create-streams")
def create_streams(ctx: typer.Context, home: HomeOption = None) -> None:
    """Create sendcase's two streams, or bring them up to date, with deletes and purges denied. In production the
    operator does it (the services may not), as the NATS operator user: SENDCASE_NATS_URL=tls://operator:...@host."""
    import nats.errors
    from nats.js.errors import APIError

    from infra.cli.common import fail
    from infra.cli.locate import StackNotRunning, locate, tls_from_environment
    from infra.stack.operator import create_streams as create
    from services.runtime.nats_connection import without_password

    try:
        nats_url, prefix = locate(_home(ctx, home))
    except StackNotRunning as e:
        fail(f"sendcase: {e} (or set SENDCASE_NATS_URL)")
    try:
        lines = asyncio.run(create(nats_url, prefix, tls_from_environment()))
    except APIError as e:
        fail(f"sendcase: NATS refused: {e.description} (error {e.err_code})")
    except (TimeoutError, nats.errors.TimeoutError):
        fail(
            f"sendcase: JetStream at {without_password(nats_url)} did not answer: is JetStream on, and is this "
            "the operator user (a service's user may not create streams)?"
        )
    except (nats.errors.Error, OSError) as e:
        fail(f"sendcase: cannot reach NATS at {without_password(nats_url)} ({type(e).__name__})")
    for line in lines:
        typer.echo(line)


@app.command()
def recover(
    ctx: typer.Context,
    service: str,
    report_dir: Annotated[
        Path,
        typer.Option(
            "--report-dir",
            file_okay=False,
            help="Where to write the list of facts lost with the restore (it holds personal data).",
        ),
    ] = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be done; change nothing.")] = False,
) -> None:
    """After restoring a service's database from a backup, with every replica of the service stopped: report
    the facts lost with the restore, move new ids past the stream, let the relay resume and the consumers replay
    (docs/operations.md, "Backup and restore"). Uses the service's settings, as `serve` does, but reaches NATS
    as the operator (it resets the service's consumers, which the service's own NATS user may not): from
    SENDCASE_OPERATOR_NATS_URL, else the running stack's operator."""
    import nats.errors

    from infra.cli.common import as_json, fail
    from infra.stack.catalogue import bootstrap_for
    from services.runtime.clock import SystemClock
    from services.runtime.errors import ConfigurationError
    from services.runtime.recovery import RecoveryRefused, recover_service
    from services.runtime.service import open_keyring
    from services.runtime.settings import load_settings

    try:
        bootstrap = bootstrap_for(service)
    except KeyError as e:
        fail(str(e.args[0]))
    settings = load_settings(service)
    operator_url = os.environ.get("SENDCASE_OPERATOR_NATS_URL")
    if not operator_url:
        from infra.stack.nats_users import stack_nats_url
        from infra.stack.servers import StackState, sendcase_home

        home = sendcase_home(session(ctx).home)
        state = StackState.load(home)
        operator_url = stack_nats_url(home, state.nats_url) if state is not None else settings.nats_url
    settings = settings.model_copy(update={"nats_url": operator_url})

    async def recovered() -> Any:
        keyring = await open_keyring(settings)  # the report opens what the lost facts hold, as the service would
        try:
            return await recover_service(
                bootstrap, settings, SystemClock(), report_dir=report_dir.resolve(), dry_run=dry_run
            )
        finally:
            keyring.close()

    try:
        found = asyncio.run(recovered())
    except ConfigurationError as e:
        fail(f"sendcase recover: {e}")
    except RecoveryRefused as e:
        fail(f"sendcase recover: {e}", code=1)
    except (OSError, nats.errors.Error) as e:
        fail(f"sendcase recover: cannot reach PostgreSQL or NATS for {service} ({type(e).__name__}: {e})")
    if session(ctx).json:
        typer.echo(as_json(found.summary()))
    else:
        for line in found.lines():
            typer.echo(line)


@app.command()
def status(ctx: typer.Context, home: HomeOption = None) -> None:
    """Is each server and service up? Exits non-zero when anything is down."""
    from infra.stack.status import check

    rows, all_up = asyncio.run(check(_home(ctx, home)))
    for name, ok, detail in rows:
        state = "up      " if ok else "DEGRADED" if "DEGRADED" in detail else "DOWN    "
        typer.echo(f"  {name:<14}{state}  {detail}")
    raise typer.Exit(0 if all_up else 1)


@app.command()
def demo(ctx: typer.Context, home: HomeOption = None) -> None:
    """A SENCO adds a pupil to SEN support: see the fact reach notifications, the parents' email and letter
    in the outbox, then a small LA's rolls imported and its register and counts as at census day."""
    from infra.demo.walkthrough import run_demo

    raise typer.Exit(asyncio.run(run_demo(_home(ctx, home), typer.echo)))


def _serve_gateway() -> None:
    from pydantic import ValidationError

    from services.gateway.runner import main
    from services.gateway.settings import load_gateway_settings
    from services.runtime.errors import ConfigurationError

    try:
        settings = load_gateway_settings()
        main(settings)
    except ValidationError as e:  # a setting of the wrong shape: which one, in one line
        problems = "; ".join(
            f"SENDCASE_GATEWAY_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}" for err in e.errors()
        )
        typer.echo(f"sendcase serve gateway: {problems}", err=True)
        raise typer.Exit(2) from None
    except ConfigurationError as e:  # e.g. the development sign-in in a production configuration
        typer.echo(f"sendcase serve gateway: {e}", err=True)
        raise typer.Exit(2) from None
