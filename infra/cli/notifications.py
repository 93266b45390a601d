"""`sendcase notifications ...`: what was owed, to whom, with which content, and whether it arrived.

A pupil is named by UPN (`--upn X801...`), as everywhere else; `--pupil-id` takes the internal id instead.
Who you are is said once, before `notifications` (see `sendcase --help`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from contracts.identifiers import validate_upn
from contracts.notifications import (
    FailedToReach,
    NotificationCounts,
    NotificationsByReference,
    NotificationsForCase,
    NotificationsForPupil,
    UndeliveredNotifications,
)
from infra.cli.common import HomeOption, build, fail, send, send_pages, session, show, use_cli_keys
from services.runtime.keyring import pupil_id_for

app = typer.Typer(help="Notifications owed and sent.", no_args_is_help=True)

SchoolOption = Annotated[str | None, typer.Option("--school", help="One school's URN (default: the whole LA).")]


def pupil_ids(ctx: typer.Context, upns: list[str], ids: list[UUID]) -> list[UUID]:
    """The pupils named by UPN (checked, check letter and all) or by id; at least one."""
    if not upns and not ids:
        fail("Say which pupil: --upn <UPN> (or --pupil-id <id>)")
    for upn in upns:
        try:
            validate_upn(upn)
        except ValueError as e:
            fail(f"--upn {upn}: {e}")
    if upns:
        use_cli_keys(session(ctx).home)
    return [pupil_id_for(upn) for upn in upns] + list(ids)


@app.command("for-pupil")
def for_pupil(
    ctx: typer.Context,
    upn: Annotated[str | None, typer.Option(help="The pupil's UPN.")] = None,
    pupil_id: Annotated[UUID | None, typer.Option(help="The pupil's internal id, instead of the UPN.")] = None,
) -> None:
    """Every notification about a pupil, in order, with its content and delivery history."""
    if upn and pupil_id:
        fail("Name the pupil once: --upn or --pupil-id, not both")
    [pupil] = pupil_ids(ctx, [upn] if upn else [], [pupil_id] if pupil_id else [])
    show(ctx, send(ctx, NotificationsForPupil(pupil_id=pupil)))


@app.command("find")
def find(
    ctx: typer.Context,
    reference: Annotated[
        str, typer.Argument(help="The reference printed on the message (e.g. HN4QX-7RB2M), or its notification id.")
    ],
) -> None:
    """The message a person quotes by its reference: whom it was to, what they need to read it, who it was from, its
    date, where it stands, and the complete letter."""
    from contracts.envelope import Answered
    from infra.cli.render import render_message

    reply = send(ctx, build(NotificationsByReference, reference=reference))
    if session(ctx).json or not isinstance(reply, Answered):
        show(ctx, reply)
        return
    if not reply.result:
        fail(f"No message has the reference {reference}: check it with the person who read it out.", code=1)
    typer.echo("\n\n".join(render_message(n) for n in reply.result), nl=False)


@app.command("for-case")
def for_case(ctx: typer.Context, case_id: Annotated[UUID, typer.Argument(help="The EHC case's id.")]) -> None:
    """Every notification about an EHC case, in order, with its content and delivery history."""
    show(ctx, send(ctx, NotificationsForCase(case_id=case_id)))


@app.command("undelivered")
def undelivered(ctx: typer.Context, school: SchoolOption = None) -> None:
    """Everything not yet delivered: waiting, retrying, failed, or impossible to send."""
    query = build(UndeliveredNotifications, school_urn=school)
    show(ctx, send_pages(ctx, query, items="notifications", school=school, unwrap=True))


@app.command("failed-to-reach")
def failed_to_reach(ctx: typer.Context, school: SchoolOption = None) -> None:
    """People we could not reach (on some channel, or at all), with the reason: the list to act on."""
    query = build(FailedToReach, school_urn=school)
    show(ctx, send_pages(ctx, query, items="notifications", school=school, unwrap=True))


@app.command("counts")
def counts(ctx: typer.Context, school: SchoolOption = None) -> None:
    """How many notifications, by status and by duty, for one school or the whole LA."""
    show(ctx, send(ctx, build(NotificationCounts, school_urn=school), school=school))


@app.command("outbox")
def outbox(
    ctx: typer.Context,
    upn: Annotated[list[str] | None, typer.Option(help="A pupil's UPN (repeat for more pupils).")] = None,
    pupil_id: Annotated[list[UUID] | None, typer.Option(help="A pupil's internal id, instead of the UPN.")] = None,
    home: HomeOption = None,
    folder: Annotated[Path | None, typer.Option(help="The outbox folder, if not <home>/outbox.")] = None,
) -> None:
    """Show the letters, emails and texts the local file channel wrote for these pupils (read from the
    folder: no one need be named with --as-user). Exit code 1 when there is nothing to show."""
    from infra.demo.outbox import show_outbox

    pupils = pupil_ids(ctx, upn or [], pupil_id or [])
    shown = show_outbox(pupils, home if home is not None else session(ctx).home, echo=typer.echo, outbox_dir=folder)
    raise typer.Exit(0 if shown else 1)


@app.command("letters-config")
def letters_config_check(
    config_file: Annotated[
        Path,
        typer.Argument(help="An LA's letters configuration (TOML), e.g. infra/local_authorities/840/letters.toml."),
    ],
) -> None:
    """Check an LA's letters configuration and show what its messages will say of who they are from and where to get
    help: a file that is not right is refused naming the line and field at fault (exit code 2), as the notifications
    service refuses to start with it."""
    from services.notifications.letters_config import LettersConfigError, load_letters_config

    try:
        config = load_letters_config(config_file)
    except LettersConfigError as e:
        fail(str(e))
    f = config.file
    team = f.send_team
    typer.echo(f"LA {f.local_authority}: {f.name}, {', '.join([*f.address, f.postcode])}")
    typer.echo(
        f"  its letters: from the {team.name} ({team.email}, {team.phone}), signed by the {team.responsible_officer}"
    )
    typer.echo(f"  emails: {f.messages.email.replace('_', ' ')}; texts: {f.messages.text.replace('_', ' ')}")
    for key in ("sendiass", "disagreement_resolution", "mediation"):
        service = getattr(f, key)
        how = ", ".join(x for x in (service.phone, service.email and str(service.email), service.website) if x)
        typer.echo(f"  {key.replace('_', ' ')}: {service.name} ({how})")
    typer.echo(
        f"  {len(f.schools)} school{'s' if len(f.schools) != 1 else ''} by URN (any other: written for by the LA)"
    )
    for urn, school in f.schools.items():
        typer.echo(f"    {urn} {school.name}: {school.senco}, {school.email}, {school.phone}")
