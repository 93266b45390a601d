"""`sendcase audit reads`: who looked at a child's records, in every service (docs/security.md, "The read log").

The LA's auditor, a manager or the data officer names the child (--upn, or --pupil-id as retention reports show
it); every service that keeps a read log (contracts/read_log.py) is asked, page after page, and the reads are
printed in the order they happened: when, which service and query, who (user, role, organisation), and whether the
record was shown or the look refused. Exit code 0 when answered (even with nothing found), 1 when refused, 2 for bad
input or sendcase not running.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import typer

from contracts.envelope import Rejected
from contracts.read_log import read_log_queries
from infra.cli.common import as_json, every_page, exchange, session, show, width
from infra.cli.register import pupil_named


def reads(
    ctx: typer.Context,
    upn: Annotated[str | None, typer.Option("--upn", help="The child's UPN.")] = None,
    pupil_id: Annotated[str | None, typer.Option("--pupil-id", help="Or the child's id.")] = None,
) -> None:
    """Who looked at a child's records, in every service, and when: every read by a person (shown or refused).
    For the LA's auditors, managers and data officer."""
    who = pupil_named(ctx, upn, pupil_id)
    found: list[tuple[str, Any]] = []
    for query in read_log_queries():
        service = query.SUBJECT.split(".", 1)[0]
        answer = exchange(ctx, service, every_page(query(pupil_id=who)))
        if isinstance(answer, Rejected):
            show(ctx, answer)
        found += [(service, read) for page in answer for read in page.reads]
    found.sort(key=lambda sr: (sr[1].read_at, sr[0], sr[1].position))
    if session(ctx).json:
        typer.echo(as_json([{"service": service, **read.model_dump(mode="json")} for service, read in found]))
        return
    typer.echo(render_reads(who, found, width()), nl=False)


def render_reads(pupil_id: UUID, found: list[tuple[str, Any]], width: int) -> str:
    from infra.cli.render import _print, _table, format_datetime, role_in_words

    if not found:
        return f"Nobody has looked at the records of child {pupil_id} (nothing recorded in any service).\n"
    rows = [
        [
            format_datetime(read.read_at),
            read.query,
            read.user_id,
            f"{role_in_words(read.role)}, {read.organisation}",
            "shown" if read.outcome == "read" else "REFUSED",
            str(read.correlation_id),
        ]
        for _, read in found
    ]
    heading = f"Who looked at the records of child {pupil_id}: {len(found)} time(s)\n\n"
    return heading + _print(_table(["When", "What", "Who", "As", "Outcome", "Correlation"], rows), width=width)
