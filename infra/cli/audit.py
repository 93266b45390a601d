"""`sendcase audit ...`: check the record (docs/audit.md). Each command is its own module's function, registered
here with one line."""

from __future__ import annotations

import typer

from infra.cli.audit_retention import retention, retention_schedule

app = typer.Typer(help="Check the record, and apply the LA's retention schedule (docs/audit.md).", no_args_is_help=True)
app.command("retention")(retention)
app.command("retention-schedule")(retention_schedule)
