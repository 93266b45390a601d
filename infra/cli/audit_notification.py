"""`sendcase audit notification <id>`: one notification as its stored events hold it (the notifications
service's `notifications.audit` query: who it was to, why, every step with its time and who did it, the content
hash, the hash of the exact bytes sent on each attempt, the provider's reference and the delivery receipt), then
CHECKED here, by this command, against what it can see for itself:
- the content: the stored content must still hash to the content hash stored when it was written;
- the file channel: the outbox file is hashed again on disk and compared with the hash recorded when it was
  written (a file altered or deleted afterwards DOES NOT MATCH);
- GOV.UK Notify: the receipt must be for the message recorded as sent (Notify's id) and carry the reference it
  was sent with;
- SMTP: a mail server gives no receipt: the MIME message's hash is shown, there is nothing more to check here.
Each check says "matches" or "DOES NOT MATCH: ..."; the exit code is 1 when any does not match (or the file is
missing), 0 otherwise. The person acting is named as for every command (an auditor: `--as-role auditor`).

Self-contained: `notification` is registered on the `sendcase audit` sub-app (infra/cli/audit.py) with one line.
docs/notifications.md ("Letters provably sent") and docs/audit.md say what it shows and why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer

from contracts.envelope import Rejected
from contracts.notifications import AuditAttempt, AuditNotification, NotificationAudit, SentAs
from infra.cli.common import as_json, send, session, show


@dataclass(frozen=True)
class Check:
    """One thing checked: `ok` True (matches), False (DOES NOT MATCH) or None (nothing to check against)."""

    what: str
    ok: bool | None
    says: str

    def line(self) -> str:
        mark = {True: "matches", False: "DOES NOT MATCH", None: "not checked"}[self.ok]
        return f"{self.what}: {mark}: {self.says}"


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def outbox_file(audit: NotificationAudit, attempt: AuditAttempt, folder: Path | None) -> Path | None:
    """Where the outbox file of a send is: where the service recorded writing it, or, given a folder (a copy
    of the outbox, a restored backup), <folder>/<pupil id>/<its file name>."""
    if not attempt.provider_reference:
        return None
    recorded = Path(attempt.provider_reference)
    return folder / str(audit.pupil_id) / recorded.name if folder is not None else recorded


def checks_of(audit: NotificationAudit, folder: Path | None = None) -> list[Check]:
    """What this command checks, each with what it found."""
    found: list[Check] = []
    if audit.content_hash is None:
        found.append(Check("content", None, "no content was written for this notification"))
    elif audit.content_hash_recomputed != audit.content_hash:
        found.append(
            Check(
                "content",
                False,
                f"the stored content hashes to {audit.content_hash_recomputed}, but the hash stored when it was "
                f"written is {audit.content_hash}",
            )
        )
    else:
        found.append(Check("content", True, f"the stored content hashes to {audit.content_hash}, as recorded"))
    if not any(a.sent_at is not None for a in audit.attempts):
        found.append(Check("sent", None, f"never sent: it is {_status(audit)}"))
    for attempt in audit.attempts:
        found.append(_check_attempt(audit, attempt, folder))
        if (again := _check_made_again(attempt)) is not None:
            found.append(again)
    return found


def _check_made_again(a: AuditAttempt) -> Check | None:
    """A letter sent: printed again by the service from the stored content, it must be the very PDF sent (the
    renderer is deterministic). Printed now by another renderer (a new WeasyPrint, other fonts), other bytes are
    expected: said so, not counted as a mismatch."""
    if a.channel != "letter" or a.sent_at is None or a.sent_sha256 is None:
        return None
    what = f"letter, attempt {a.attempt}, printed again"
    if a.made_again_sha256 is None:
        return Check(what, None, "not printed again: the stored content does not hash as recorded")
    if a.made_again_sha256 == a.sent_sha256:
        return Check(
            what,
            True,
            f"printed again now from the stored content ({a.made_again_with}), it is byte for byte the PDF sent "
            f"(sha256 {a.sent_sha256})",
        )
    if a.made_with is not None and a.made_with == a.made_again_with:
        return Check(
            what,
            False,
            f"printed again now from the stored content by the renderer that printed it ({a.made_with}), it hashes "
            f"to {a.made_again_sha256}, but {a.sent_sha256} was recorded as sent",
        )
    return Check(
        what,
        None,
        f"printed again now it hashes to {a.made_again_sha256}, not {a.sent_sha256}; it was printed by "
        f"{a.made_with or 'a renderer not recorded'} and is printed now by {a.made_again_with}, so other bytes are "
        "expected: the outbox file or GOV.UK Notify's receipt is the check",
    )


def _check_attempt(audit: NotificationAudit, a: AuditAttempt, folder: Path | None) -> Check:
    what = f"{a.channel}, attempt {a.attempt}"
    if a.sent_at is None:
        return Check(what, None, f"not sent: {a.failure}" if a.failure else "not recorded as sent")
    if a.sent_as == SentAs.OUTBOX_FILE or (a.sent_as is None and "outbox" in (a.how or "")):
        path = outbox_file(audit, a, folder)
        if path is None:
            return Check(what, False, "no outbox file is recorded for this send")
        if not path.is_file():
            return Check(what, False, f"the outbox file {path} is missing")
        on_disk = sha256_of_file(path)
        if a.sent_sha256 is None:
            return Check(
                what,
                None,
                f"the outbox file {path} hashes to {on_disk}; no hash was recorded with the send (sent before "
                "December 2026) to compare it with",
            )
        if on_disk != a.sent_sha256:
            return Check(
                what, False, f"the outbox file {path} hashes to {on_disk}, but {a.sent_sha256} was recorded as sent"
            )
        return Check(what, True, f"the outbox file {path} hashes to {a.sent_sha256}, as recorded")
    if a.receipt is not None:
        r = a.receipt
        if r.provider_reference != a.provider_reference:
            return Check(
                what,
                False,
                f"{r.provider}'s receipt ({r.status}) is for message {r.provider_reference}, but message "
                f"{a.provider_reference} was recorded as sent",
            )
        if r.reference is not None and r.reference != a.key:
            return Check(
                what,
                False,
                f"{r.provider}'s receipt for message {r.provider_reference} gives the reference {r.reference}, but "
                f"it was sent with {a.key}",
            )
        return Check(
            what,
            True,
            f"{r.provider}'s receipt ({r.status}) is for message {r.provider_reference}, recorded as sent with "
            f"reference {a.key}",
        )
    if a.sent_as in (SentAs.NOTIFY_REQUEST_BODY, SentAs.LETTER_PDF):
        return Check(what, None, f"no receipt yet from GOV.UK Notify for message {a.provider_reference}")
    if a.sent_as == SentAs.MIME_MESSAGE:
        return Check(
            what,
            None,
            f"a mail server gives no receipt: the MIME message {a.provider_reference} was accepted, sha256 "
            f"{a.sent_sha256}",
        )
    return Check(what, None, "the bytes sent were not recorded (sent before December 2026)")


# -- as text -------------------------------------------------------------------------------------------------


def _status(audit: NotificationAudit) -> str:
    from infra.cli.render import notification_status_in_words

    words = notification_status_in_words(audit.status)
    return f"{words} ({' '.join(audit.reason.split())})" if audit.reason else words


def as_text(audit: NotificationAudit, checks: list[Check]) -> str:
    from infra.cli.render import duty_in_words, format_date, format_datetime, role_in_words

    def by(step: Any) -> str:
        if not step.by_user:
            return "nobody recorded"
        if step.by_user == step.by_organisation and step.by_user.startswith("service:"):
            return f"the {step.by_user.removeprefix('service:').replace('_', ' ')} service (automatically)"
        role = role_in_words(step.by_role) if step.by_role else "?"
        return f"{step.by_user} ({role}, {step.by_organisation})"

    to = audit.recipients + (f", prefers {audit.preferred_channel}" if audit.preferred_channel else "")
    lines = [
        f"Notification {audit.notification_id}",
        f"  to:            {to}",
        f"  about:         pupil {audit.pupil_id}"
        + (f", school {audit.school_urn}" if audit.school_urn else "")
        + (f", EHC case {audit.case_id}" if audit.case_id else ""),
        f"  duty:          {duty_in_words(audit.duty)}",
        f"  why:           {audit.cause_event_type} (event {audit.cause_event_id}), owed from "
        f"{format_date(audit.owed_since)}",
        f"  status:        {_status(audit)}",
        "  content sha256: "
        + (f"{audit.content_hash} (template {audit.template})" if audit.content_hash else "none written"),
        "",
        "Steps, as recorded",
    ]
    for step in audit.steps:
        on = f" [{step.channel}]" if step.channel else ""
        lines.append(f"  {step.position:>3}. {format_datetime(step.at)}  {step.what}{on}, by {by(step)}")
        lines.append(f"       {' '.join(step.detail.split())}")
    lines += ["", "Sends"]
    if not audit.attempts:
        lines.append("  never sent")
    for a in audit.attempts:
        lines.append(f"  {a.channel}, attempt {a.attempt} (key {a.key}): started {format_datetime(a.started_at)}")
        if a.sent_at is not None:
            lines.append(f"    sent:          {format_datetime(a.sent_at)}, {a.how}")
            lines.append(f"    reference:     {a.provider_reference or '-'}")
            if a.sent_sha256 is not None:
                what = a.sent_as.in_words if a.sent_as else "the bytes sent"
                lines.append(f"    bytes sent:    {what}, {a.sent_size} bytes, sha256 {a.sent_sha256}")
                if a.made_with is not None:
                    lines.append(f"    printed by:    {a.made_with}")
            else:
                lines.append("    bytes sent:    not recorded (sent before December 2026)")
        if a.delivered_at is not None:
            lines.append(f"    delivered:     {format_datetime(a.delivered_at)}, {a.delivery_evidence}")
        if a.receipt is not None:
            r = a.receipt
            lines.append(
                f"    receipt:       {r.provider} says {r.status}"
                + (f" at {format_datetime(r.at)}" if r.at else "")
                + f" ({r.via}, recorded {format_datetime(r.recorded_at)}): message {r.provider_reference}, "
                f"reference {r.reference or '-'}"
            )
        if a.failure:
            lines.append(f"    failed:        {' '.join(a.failure.split())}")
    lines += ["", "Checks"]
    lines += [f"  {c.line()}" for c in checks]
    failed = sum(c.ok is False for c in checks)
    lines += ["", f"{failed} check(s) DO NOT MATCH." if failed else "Everything checked matches the record."]
    return "\n".join(lines) + "\n"


# -- the command ---------------------------------------------------------------------------------------------


def notification(
    ctx: typer.Context,
    notification_id: Annotated[UUID, typer.Argument(help="The notification's id.")],
    folder: Annotated[
        Path | None,
        typer.Option(
            "--folder",
            file_okay=False,
            help="Look for the outbox files in this folder (<folder>/<pupil id>/<file>), e.g. a copy of the outbox, "
            "instead of where the service recorded writing them.",
        ),
    ] = None,
) -> None:
    """One notification as the record holds it (who it was to, why, every step, the content hash, the hash of the
    bytes sent on each attempt, the provider's reference and receipt), checked against the outbox file or the
    provider's receipt. Exit code 1 when anything DOES NOT MATCH (or the file is missing)."""
    reply = send(ctx, AuditNotification(notification_id=notification_id))
    if isinstance(reply, Rejected):
        show(ctx, reply)  # exits 1
        return
    audit: NotificationAudit = reply.result
    checks = checks_of(audit, folder)
    matches = not any(c.ok is False for c in checks)
    if session(ctx).json:
        typer.echo(
            as_json(
                {
                    "result": audit.model_dump(mode="json"),
                    "checks": [{"what": c.what, "ok": c.ok, "says": c.says} for c in checks],
                    "matches": matches,
                }
            )
        )
    else:
        typer.echo(as_text(audit, checks), nl=False)
    raise typer.Exit(0 if matches else 1)
