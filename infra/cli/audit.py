"""`sendcase audit verify`: was any stored fact changed, removed, slipped in or moved? (docs/audit.md)

Walks each service's whole event log (read in pages) against its hash chain and against every checkpoint it
signed and published on the audit stream, and reports each problem by position (the event's notification id); then
its read log (every read of a child's record by a person: services/runtime/read_log.py) the same way.
Reads the databases and NATS the way `sendcase recover` does: from SENDCASE_* environment variables when
SENDCASE_NATS_URL is set (production: a read-only database user is enough), else from the running `sendcase up`.
The public keys that check the checkpoints' signatures: --public-key (repeatable), else SENDCASE_ANCHOR_PUBLIC_KEYS,
else the embedded stack's `$SENDCASE_HOME/keys/`.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from infra.cli.audit_notification import notification
from infra.cli.audit_reads import reads
from infra.cli.audit_retention import retention, retention_schedule
from infra.cli.audit_subject_access import subject_access
from infra.cli.common import HomeOption, as_json, fail, session
from infra.stack.catalogue import SERVICES

app = typer.Typer(
    help="Check the record (the history unaltered, what was sent) and apply the LA's retention schedule "
    "(docs/audit.md).",
    no_args_is_help=True,
)
# The other audit commands, each its own module's function, registered here with one line.
app.command("notification")(notification)
app.command("retention")(retention)
app.command("retention-schedule")(retention_schedule)
app.command("subject-access")(subject_access)
app.command("reads")(reads)


def _settings(service: str, home: Path | None) -> Any:
    from infra.stack.servers import StackState, pid_alive, sendcase_home
    from services.runtime.settings import load_settings

    if os.environ.get("SENDCASE_NATS_URL"):
        return load_settings(service)
    where = sendcase_home(home)
    state = StackState.load(where)
    if state is None or not pid_alive(state.supervisor_pid):
        fail(
            f"sendcase audit: no running sendcase found in {where}: start it with `sendcase up` "
            "(or set SENDCASE_NATS_URL)"
        )
    from infra.stack.nats_users import stack_nats_url

    nats_url = stack_nats_url(where, state.nats_url)  # as the operator: it reads the audit stream
    return load_settings(
        service, postgres_url=state.postgres_url, nats_url=nats_url, subject_prefix=state.subject_prefix
    )


def _public_keys(given: list[Path], settings: Any, home: Path | None) -> dict[str, Any]:
    from infra.stack.servers import sendcase_home
    from services.runtime.anchors import KeyProblem, load_public_keys

    sources = [str(p) for p in given]
    if not sources and settings.anchor_public_keys:
        sources = [settings.anchor_public_keys]
    if not sources:
        folder = (home or sendcase_home()) / "keys"
        if folder.is_dir():
            sources = [str(folder)]
    try:
        return load_public_keys(*sources)
    except KeyProblem as e:
        fail(f"sendcase audit: {e}")


async def _verify(services: list[str], given: list[Path], home: Path | None) -> list[Any]:
    import nats

    from services.runtime.audit import verify_read_log_of, verify_service
    from services.runtime.nats_connection import tls_context

    results = []
    for name in services:
        settings = _settings(name, home)
        keys = _public_keys(given, settings, home)
        tls = tls_context(settings.nats_tls_ca_file, settings.nats_tls_cert_file, settings.nats_tls_key_file)
        nc = await nats.connect(
            settings.nats_servers,
            name="sendcase-audit",
            connect_timeout=5,
            max_reconnect_attempts=0,
            allow_reconnect=False,
            **({"tls": tls} if tls is not None else {}),
        )
        try:
            results.append(await verify_service(settings, nc.jetstream(), keys))
            # and its read log (who looked at children's records: docs/security.md), chained and anchored the same way
            results.append(await verify_read_log_of(settings, nc.jetstream(), keys))
        finally:
            await nc.close()
    return results


@app.command()
def verify(
    ctx: typer.Context,
    service: Annotated[
        str | None, typer.Option("--service", help=f"One service ({', '.join(SERVICES)}); default: every one.")
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="A public key (PEM) that signs checkpoints, or a folder of them; repeat for keys of before a "
            "rotation.",
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Walk each service's whole log against its hash chain and its signed checkpoints; report every event
    altered, deleted, inserted or reordered, by position; and its read log the same way. Exit code 1 when anything
    is found."""
    import asyncpg
    import nats.errors

    if service is not None and service not in SERVICES:
        fail(f"sendcase audit: no service called {service!r}; the services are {', '.join(SERVICES)}")
    where = home if home is not None else session(ctx).home
    try:
        results = asyncio.run(_verify([service] if service else list(SERVICES), list(public_key or []), where))
    except (OSError, nats.errors.Error, asyncpg.PostgresError) as e:
        fail(f"sendcase audit: cannot read a service's log or checkpoints ({type(e).__name__}: {e})")
    if session(ctx).json:
        typer.echo(
            as_json(
                [
                    {
                        "service": r.service,
                        "clean": r.clean,
                        "events": r.events,
                        "last_position": r.last_position,
                        "checkpoints": r.checkpoints,
                        "anchored_at": r.anchored.at if r.anchored else None,
                        "anchored_position": r.anchored.position if r.anchored else None,
                        "findings": [{"kind": f.kind, "position": f.position, "says": f.says} for f in r.findings],
                    }
                    for r in results
                ]
            )
        )
    else:
        for result in results:
            for line in result.lines():
                typer.echo(line)
    raise typer.Exit(0 if all(r.clean for r in results) else 1)
