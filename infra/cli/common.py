"""What every service's subcommands share: who is acting, sending a command or query, showing the reply.

Who is acting is said once, before the command (`sendcase --as-user ... --as-role ... --as-org ... register
pupil X801...`), or by SENDCASE_USER / SENDCASE_ROLE / SENDCASE_ORGANISATION; the root callback (app.py)
keeps it in the Typer context as a `Session`, with `--json` and `--home`. Nothing here lets a traceback
reach the person: bad input is one line ("field: problem" lines for a message that does not validate) and
exit code 2; a refusal is the service's words and exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel, ValidationError

from contracts.envelope import Accepted, Actor, Answered, Command, Query, Rejected, Role

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", envvar="SENDCASE_HOME", file_okay=False, help="Data folder of the stack (default ./.sendcase)."
    ),
]

# School staff act for their school: when a command names one, it is their organisation unless they say.
SCHOOL_ROLES = frozenset({Role.SENCO, Role.TEACHER, Role.HEADTEACHER})

ENGLAND = ZoneInfo("Europe/London")
DAY_FORMATS = ["%Y-%m-%d"]
# --as-known-at: an ISO date-time; without an offset it is a time in England.
INSTANT_FORMATS = [
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
]
KnownAt = Annotated[
    datetime | None,
    typer.Option(
        formats=INSTANT_FORMATS,
        metavar="DATE-TIME",
        help="As the register knew it at this instant: an ISO date-time such as 2026-10-01T17:00 (England time) "
        "or 2026-10-01T16:00:00+00:00. Default: everything known now.",
    ),
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Session:
    """What the root callback was told: who is acting, where the stack is, how to print."""

    user: str | None = None
    role: Role | None = None
    organisation: str | None = None
    home: Path | None = None
    json: bool = False


def session(ctx: typer.Context) -> Session:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Session) else Session()


def fail(*lines: str, code: int = 2) -> NoReturn:
    """Say what is wrong, on stderr, and stop: 2 for bad input or no stack, 1 for a refusal."""
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


def problems(error: ValidationError, prefix: str = "") -> list[str]:
    """pydantic's errors as "field: problem" lines."""
    lines = []
    for err in error.errors():
        field = ".".join(str(p) for p in err["loc"])
        lines.append(f"{prefix}{field or 'value'}: {err['msg']}")
    return lines


def build(model: type[M], *, prefix: str = "", **values: Any) -> M:
    """The command or query (or part of one), or its problems as "field: problem" lines and exit code 2."""
    try:
        return model(**values)
    except ValidationError as e:
        fail(*problems(e, prefix))


def day(value: datetime | None) -> date:
    """A --<day> option's date; not given: today, as a date in England."""
    if value is not None:
        return value.date()
    from services.runtime.clock import SystemClock, today_in_england

    return today_in_england(SystemClock())


def instant(value: datetime | None) -> datetime | None:
    """A --as-known-at option's instant; a date-time without an offset is a time in England."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=ENGLAND)


def actor(ctx: typer.Context, school: str | None = None) -> Actor:
    """Who is acting, from the root options or their environment variables. A SENCO (or other school staff)
    who names a school acts for it unless --as-org says otherwise."""
    s = session(ctx)
    missing = []
    if not s.user:
        missing.append("Say who you are: --as-user <your user id, e.g. your email> (or set SENDCASE_USER)")
    if s.role is None:
        roles = ", ".join(r.value for r in Role if r is not Role.SYSTEM)
        missing.append(f"Say your role: --as-role <one of {roles}> (or set SENDCASE_ROLE)")
    organisation = s.organisation or (f"school:{school}" if school and s.role in SCHOOL_ROLES else None)
    if not organisation:
        missing.append("Say who you are acting for: --as-org school:<URN> or la:<code> (or set SENDCASE_ORGANISATION)")
    if missing:
        fail(*(f"sendcase: {line}" for line in missing))
    try:
        return Actor(user_id=s.user, role=s.role, organisation=organisation)
    except ValidationError as e:
        options = {"user_id": "--as-user", "role": "--as-role", "organisation": "--as-org"}
        fail(*(f"{options.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" for err in e.errors()))


def send(ctx: typer.Context, message: Command | Query, *, school: str | None = None) -> Any:
    """Send a command or query as the acting person and return its typed reply. Anything between here and
    the service going wrong (no stack, no NATS, no service answering) is one line and exit code 2."""
    service = message.SUBJECT.split(".", 1)[0]

    async def ask(client: Any) -> Any:
        return await (client.query(message) if isinstance(message, Query) else client.command(message))

    return exchange(ctx, service, ask, school=school)


def send_pages(ctx: typer.Context, query: Query, *, items: str, school: str | None = None, unwrap: bool = False) -> Any:
    """A paged query (contracts/paging.py) asked page after page until the last, as one reply holding every
    page's `items` in order (lists joined, text concatenated; `unwrap`: the result is just those items), so a
    person or a script sees the whole answer however many messages it took. A refusal of any page is the reply."""
    service = query.SUBJECT.split(".", 1)[0]

    async def ask(client: Any) -> Any:
        replies: list[Any] = []
        async for reply in client.pages(query):
            if isinstance(reply, Rejected):
                return reply
            replies.append(reply)
        return whole(replies, items, unwrap=unwrap)

    return exchange(ctx, service, ask, school=school)


def every_page(query: Query) -> Any:
    """For `exchange`: ask a paged query (contracts/paging.py) page after page; every page's result, in order, or
    the first refusal."""

    async def ask(client: Any) -> list[Any] | Rejected:
        pages: list[Any] = []
        async for reply in client.pages(query):
            if isinstance(reply, Rejected):
                return reply
            pages.append(reply.result)
        return pages

    return ask


def whole(replies: list[Answered[Any]], items: str, *, unwrap: bool = False) -> Answered[Any]:
    """The pages of one answer as one: the first page's result with every page's `items` and no next page."""
    parts = [getattr(reply.result, items) for reply in replies]
    joined: Any = "".join(parts) if isinstance(parts[0], str) else [item for part in parts for item in part]
    result = joined if unwrap else replies[0].result.model_copy(update={items: joined, "next_after": None})
    return Answered[Any](result=result, correlation_id=replies[0].correlation_id)


def exchange(ctx: typer.Context, service: str, ask: Any, *, school: str | None = None) -> Any:
    """Connect as the acting person, run `ask(client)`, and turn whatever goes wrong on the way into one line
    and exit code 2."""
    import nats.errors

    from infra.cli.locate import Client, StackNotRunning, locate, tls_from_environment
    from services.runtime.client import NoReply
    from services.runtime.nats_connection import without_password

    who = actor(ctx, school)
    try:
        nats_url, prefix = locate(session(ctx).home)
    except StackNotRunning as e:
        fail(f"sendcase: {e}")

    async def run() -> Any:
        async with Client(nats_url, prefix, who, tls=tls_from_environment()) as client:
            return await ask(client)

    shown_url = without_password(nats_url)  # the URL in a message, never its password

    # nats-py logs connection errors with their tracebacks; the line below says what matters.
    nats_log = logging.getLogger("nats.aio.client")
    level = nats_log.level
    nats_log.setLevel(logging.CRITICAL + 1)
    try:
        return asyncio.run(run())
    except NoReply as e:
        if e.nobody_listening:
            fail(
                f"sendcase: the {service} service is not running (nothing answered at {shown_url})",
                "See `sendcase status`.",
            )
        fail(
            f"sendcase: the {service} service did not answer in time, though asked again: see `sendcase status`. "
            "It may have been done; running the same command again is safe."
        )
    except nats.errors.NoRespondersError:
        fail(f"sendcase: the {service} service is not running (nothing answered at {shown_url}): see `sendcase status`")
    except (TimeoutError, nats.errors.TimeoutError):
        fail(f"sendcase: the {service} service did not answer in time: see `sendcase status`")
    except (nats.errors.Error, OSError) as e:
        fail(
            f"sendcase: cannot reach NATS at {shown_url} ({type(e).__name__}): is sendcase running? "
            "See `sendcase status`"
        )
    except ValidationError as e:
        fail(
            f"sendcase: the {service} service's reply could not be read ({e.error_count()} problems): "
            "are this sendcase and the service the same version?",
            code=1,
        )
    finally:
        nats_log.setLevel(level)


def width() -> int:
    from infra.cli.render import WIDTH

    return shutil.get_terminal_size((WIDTH, 24)).columns if sys.stdout.isatty() else WIDTH


def as_json(value: Any) -> str:
    return json.dumps(value.model_dump(mode="json") if isinstance(value, BaseModel) else value, indent=2)


def show(ctx: typer.Context, reply: Accepted[Any] | Answered[Any] | Rejected) -> None:
    """Print a reply: as text for a person, or as JSON with --json. A refusal exits 1 (its words on stderr,
    or the JSON on stdout) so scripts can tell."""
    from infra.cli.render import render, render_rejection

    if session(ctx).json:
        typer.echo(as_json(reply))
    elif isinstance(reply, Rejected):
        typer.echo(render_rejection(reply), err=True, nl=False)
    else:
        typer.echo(render(reply, width()), nl=False)
    if isinstance(reply, Rejected):
        raise typer.Exit(1)


def use_cli_keys(home: Path | None) -> None:
    """The deployment's keys, for what the CLI works out itself (a pupil's id from their UPN: the keyed blind
    index). From SENDCASE_KEYS or SENDCASE_KEYS_FILE, else the stack's keys file in its home folder."""
    from services.runtime.keyring import KEYS_FILE_NAME, InMemoryKeyring, use_keyring
    from services.runtime.settings import load_settings

    settings = load_settings("cli")
    if not settings.keys and not settings.keys_file and home is not None:
        settings = load_settings("cli", keys_file=str(Path(home) / "keys" / KEYS_FILE_NAME))
    try:
        master = settings.master_keys()
    except (OSError, ValueError) as e:
        fail(f"Cannot name a pupil by UPN without the deployment's keys: {e}")
    use_keyring(InMemoryKeyring(master))  # the blind index only: the CLI never seals or opens anything
