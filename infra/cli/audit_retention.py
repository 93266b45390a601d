"""`sendcase audit retention`: whose records have passed the LA's retention schedule (docs/audit.md, "Retention and
legal holds").

`--dry-run` (the default) lists who would be erased, under which rule, and who is held by which legal hold, by pupil
id, school and year of birth only (never a name), and changes nothing. `--erase` then erases them, each by the
register's `ErasePupil` command as the acting officer, naming the rule (the register's retention job does the same
each day when it is switched on: docs/operations.md). Both ask the register service (the `ReviewRetention` query),
which applies the schedule it was configured with; the LA's data officer or a manager only.

`sendcase audit retention-schedule FILE` checks a schedule file before a deployment is pointed at it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from contracts.envelope import Accepted, Rejected
from contracts.register import ErasePupil, RetentionCandidate, RetentionReview, ReviewRetention
from infra.cli.common import DAY_FORMATS, as_json, build, exchange, fail, send_pages, session, show


def _candidate(c: RetentionCandidate) -> dict[str, Any]:
    line = {
        "pupil_id": str(c.pupil_id),
        "school_urn": c.school_urn,
        "year_of_birth": c.year_of_birth,
        "rule": c.rule,
        "kept_until": c.kept_until.isoformat(),
    }
    if c.holds:
        line["holds"] = [f"{h.reference} ({h.kind})" for h in c.holds]
    return line


def _table(lines: list[dict[str, Any]], *, held: bool) -> list[str]:
    out = [f"  {'pupil id':<36}  {'school':<6}  born  kept until  rule" + ("  held by" if held else "")]
    for line in lines:
        text = (
            f"  {line['pupil_id']:<36}  {line['school_urn']:<6}  {line['year_of_birth']}  {line['kept_until']}  "
            f"{line['rule']}"
        )
        if held:
            text += "  " + "; ".join(line["holds"])
        out.append(text)
    return out


def _header(review: RetentionReview) -> list[str]:
    la = f"LA {review.local_authority}, " if review.local_authority else ""
    lines = [f"Retention as at {review.as_at}: {review.schedule or 'schedule'} ({la}{review.schedule_file})"]
    lines += [f"  rule {r.label} ({r.applies_to})" for r in review.rules]
    return lines


def retention(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List who would be erased and who is held; change nothing (default).")
    ] = False,
    erase: Annotated[
        bool, typer.Option("--erase", help="Erase them (each as you, naming the rule); the held are kept.")
    ] = False,
    as_at: Annotated[
        datetime | None,
        typer.Option(
            formats=DAY_FORMATS,
            metavar="YYYY-MM-DD",
            help="With --dry-run: who would be due by this day (default: today). --erase is always as at today.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="With --erase: do not ask first (for a script).")] = False,
) -> None:
    """Whose records have passed the LA's retention schedule: --dry-run lists them (and who is held, by which
    legal hold) without names; --erase erases them. The LA's data officer or a manager.

    Exit code 0 when done, 1 when refused or when any erasure failed, 2 for bad input."""
    if dry_run and erase:
        fail("sendcase audit retention: --dry-run or --erase, not both.")
    if erase and as_at is not None:
        fail("sendcase audit retention: --erase erases what is due today; --as-at goes with --dry-run only.")
    query = build(ReviewRetention, as_at=as_at.date() if as_at else None)
    reply = send_pages(ctx, query, items="candidates")
    if isinstance(reply, Rejected):
        show(ctx, reply)
    review: RetentionReview = reply.result
    due = [_candidate(c) for c in review.candidates if not c.holds]
    held = [_candidate(c) for c in review.candidates if c.holds]
    if not erase:
        _show_review(ctx, review, due, held)
        return
    if not due:
        _show_review(ctx, review, due, held)
        return
    if not yes and not typer.confirm(
        f"Erase the personal data of {len(due)} child(ren) for good (and of the people named only on their records)?",
        err=True,
    ):
        fail("Nothing was erased.", code=1)
    outcomes = _erase_all(ctx, review, due)
    _show_erasures(ctx, review, outcomes, held)


def _show_review(ctx: typer.Context, review: RetentionReview, due: list[dict], held: list[dict]) -> None:
    if session(ctx).json:
        typer.echo(
            as_json(
                {
                    "as_at": review.as_at.isoformat(),
                    "local_authority": review.local_authority,
                    "schedule": review.schedule,
                    "schedule_file": review.schedule_file,
                    "rules": [r.label for r in review.rules],
                    "would_erase": due,
                    "held": held,
                }
            )
        )
        return
    lines = _header(review)
    lines.append(f"Would be erased: {len(due)}" + (":" if due else "."))
    if due:
        lines += _table(due, held=False)
    lines.append(f"Held (a legal hold stops their erasure): {len(held)}" + (":" if held else "."))
    if held:
        lines += _table(held, held=True)
    lines.append("Nothing was changed (a dry run). `sendcase audit retention --erase` erases those listed.")
    typer.echo("\n".join(lines))


def _erase_all(ctx: typer.Context, review: RetentionReview, due: list[dict]) -> dict[str, list[dict]]:
    outcomes: dict[str, list[dict]] = {"erased": [], "held": [], "already_erased": [], "failed": []}

    async def ask(client: Any) -> dict[str, list[dict]]:
        for line in due:
            reply = await client.command(ErasePupil(pupil_id=line["pupil_id"], rule=line["rule"]))
            if isinstance(reply, Accepted):
                report = reply.result
                outcomes["erased"].append(
                    {**line, "people_erased": len(report.people_erased), "people_kept": len(report.people_kept)}
                )
            elif reply.rule == "legal_hold":  # placed since the review
                outcomes["held"].append({**line, "holds": [reply.message]})
            elif reply.rule == "record_erased":
                outcomes["already_erased"].append(line)
            else:
                outcomes["failed"].append({**line, "problem": reply.message})
        return outcomes

    return exchange(ctx, "register", ask)


def _show_erasures(
    ctx: typer.Context, review: RetentionReview, outcomes: dict[str, list[dict]], held: list[dict]
) -> None:
    outcomes["held"] = held + outcomes["held"]
    if session(ctx).json:
        typer.echo(as_json({"as_at": review.as_at.isoformat(), **outcomes}))
    else:
        lines = _header(review)
        erased = outcomes["erased"]
        lines.append(f"Erased: {len(erased)}" + (":" if erased else "."))
        for line in erased:
            lines.append(
                f"  {line['pupil_id']}  {line['school_urn']}  {line['year_of_birth']}  {line['rule']}  "
                f"(people erased with them: {line['people_erased']}; kept, named on other records: "
                f"{line['people_kept']})"
            )
        lines.append(f"Held, not erased: {len(outcomes['held'])}" + (":" if outcomes["held"] else "."))
        if outcomes["held"]:
            lines += _table(outcomes["held"], held=True)
        if outcomes["already_erased"]:
            lines.append(f"Erased meanwhile by someone else: {len(outcomes['already_erased'])}.")
        for line in outcomes["failed"]:
            lines.append(f"NOT ERASED {line['pupil_id']}: {line['problem']}")
        typer.echo("\n".join(lines))
    if outcomes["failed"]:
        raise typer.Exit(1)


def retention_schedule(
    schedule_file: Annotated[
        Path, typer.Argument(help="A retention schedule (TOML), e.g. infra/local_authorities/840/retention.toml.")
    ],
) -> None:
    """Check a retention schedule file and show its rules: a file that is not right is refused naming the line and
    field at fault (exit code 2), as the register refuses to start with it."""
    from services.register.domain.retention import ScheduleError, load_schedule

    try:
        schedule = load_schedule(schedule_file)
    except ScheduleError as e:
        fail(str(e))
    la = f"LA {schedule.local_authority}: " if schedule.local_authority else ""
    typer.echo(f"{la}{schedule.name or schedule_file} ({len(schedule.rules)} rules)")
    for rule in schedule.rules:
        typer.echo(f"  {rule.label}  applies to {rule.applies_to}" + (f"  [{rule.source}]" if rule.source else ""))
