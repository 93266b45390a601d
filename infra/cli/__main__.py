"""`python -m infra.cli ...` is `sendcase ...` (the supervisor starts each service this way)."""

from infra.cli.app import app

app(prog_name="sendcase")
