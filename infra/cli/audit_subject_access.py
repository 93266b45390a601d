"""`sendcase audit subject-access`: everything held about a child, as the LA's information governance team
sends it to the family (UK GDPR Article 15; docs/audit.md, "Subject access").

The LA's data officer (or an auditor) names the child (--pupil ID or --upn) and the request (its reference,
who made it, the day it was received). The request is first recorded as a fact in the register's log (ids and
dates only); then every service that declares a subject access query (contracts/subject_access.py) is asked,
page after page, and so is its read log (who looked at the child's records: contracts/read_log.py), and the export
is assembled (infra/cli/subject_access_export.py): a self-contained HTML document, or with --format json the
machine-readable copy, other people's personal data removed as the LA's policy says (SENDCASE_SUBJECT_ACCESS_*) and
each removal marked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer

from contracts.envelope import Rejected
from contracts.identifiers import validate_upn
from contracts.read_log import ReadsPage, read_log_queries
from contracts.register import RecordSubjectAccessRequest, Requester
from contracts.subject_access import HeldPage, subject_access_queries
from infra.cli.common import DAY_FORMATS, actor, build, day, every_page, exchange, fail, session, show, use_cli_keys
from infra.cli.subject_access_export import RequestDetails, SubjectAccessPolicy, assemble, to_html, to_json


class ExportFormat(StrEnum):
    HTML = "html"
    JSON = "json"


def subject_access(
    ctx: typer.Context,
    reference: Annotated[
        str, typer.Option(help="The LA's reference for the request, e.g. SAR-2026-0042.", show_default=False)
    ],
    requester: Annotated[
        Requester,
        typer.Option(help="Who asked: a parent (with parental responsibility), the young person, or a representative."),
    ],
    pupil: Annotated[UUID | None, typer.Option("--pupil", help="The child's id.")] = None,
    upn: Annotated[str | None, typer.Option("--upn", help="The child's UPN, instead of the id.")] = None,
    received_on: Annotated[
        datetime | None,
        typer.Option(
            formats=DAY_FORMATS, metavar="YYYY-MM-DD", help="The day the request was received (default: today)."
        ),
    ] = None,
    format: Annotated[ExportFormat, typer.Option("--format", help="html for the family; json for a machine.")] = (
        ExportFormat.HTML
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write the export here (default: print it).")
    ] = None,
) -> None:
    """Everything held about a child across services, as the export sent to the family (a subject access
    request, UK GDPR Article 15). For the LA's data officer or an auditor; the request is recorded in the
    register's log. Staff are shown by role and organisation, other people's details removed, as the LA's
    policy says (SENDCASE_SUBJECT_ACCESS_*, docs/audit.md)."""
    if (pupil is None) == (upn is None):
        fail("Say which child, once: --pupil <id> or --upn <UPN>")
    if upn is not None:
        try:
            validate_upn(upn)
        except ValueError as e:
            fail(f"--upn {upn}: {e}")
        use_cli_keys(session(ctx).home)
        from services.runtime.keyring import pupil_id_for

        pupil = pupil_id_for(upn)
    assert pupil is not None
    try:
        policy = SubjectAccessPolicy()
    except ValueError as e:
        fail(f"sendcase: the LA's subject access policy (SENDCASE_SUBJECT_ACCESS_*) is wrong: {e}")
    who = actor(ctx)
    command = build(
        RecordSubjectAccessRequest,
        pupil_id=pupil,
        reference=reference,
        requester=requester,
        received_on=day(received_on),
    )

    async def record(client: Any) -> Any:
        return await client.command(command)

    recorded = exchange(ctx, "register", record)
    if isinstance(recorded, Rejected):
        show(ctx, recorded)
    held: dict[str, list[HeldPage]] = {}
    for query_type in subject_access_queries():
        service = query_type.SUBJECT.split(".", 1)[0]
        answer = exchange(ctx, service, every_page(query_type(pupil_id=pupil)))
        if isinstance(answer, Rejected):
            show(ctx, answer)
        held[service] = answer
    reads: dict[str, list[ReadsPage]] = {}  # who looked at the records, each service's read log
    for reads_query in read_log_queries():
        service = reads_query.SUBJECT.split(".", 1)[0]
        answer = exchange(ctx, service, every_page(reads_query(pupil_id=pupil)))
        if isinstance(answer, Rejected):
            show(ctx, answer)
        reads[service] = answer
    result = recorded.result
    export = assemble(
        pupil,
        held,
        policy,
        request=RequestDetails(
            reference=result.reference,
            requester=str(requester),
            received_on=result.received_on,
            respond_by=result.respond_by,
            exports_made=result.exports_made,
        ),
        produced_at=datetime.now(UTC),
        produced_by={"user": who.user_id, "role": who.role.value, "organisation": who.organisation},
        la_code=who.organisation.partition(":")[2],
        reads=reads,
    )
    text = to_json(export) if format is ExportFormat.JSON else to_html(export)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        fail(f"--output {output}: cannot write it ({e.strerror or e})")
    facts = sum(len(s["history"]) for s in export["services"])
    messages = sum(len(s["messages"]) for s in export["services"])
    typer.echo(
        f"Wrote the subject access export for request {result.reference} to {output}: {facts} recorded facts and "
        f"{messages} messages from {len(export['services'])} services"
        + (" (the child's personal data was erased)" if export["erased"] else "")
        + f". Answer by {result.respond_by:%-d %B %Y}.",
        err=True,
    )
