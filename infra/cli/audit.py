"""`sendcase audit ...`: check the record (docs/audit.md). Each command is its own module's function, registered
here with one line."""

from __future__ import annotations

import typer

from infra.cli.audit_notification import notification

app = typer.Typer(help="Check the record: what was sent, and that it is what the record says.", no_args_is_help=True)
app.command("notification")(notification)
