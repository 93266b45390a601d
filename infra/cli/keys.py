"""`sendcase keys ...`: the keyring of every person's data key (docs/audit.md, "Rotation").

Reads the keys file and the keyring's database the way the services do: SENDCASE_KEYS_FILE (or SENDCASE_KEYS) and
SENDCASE_POSTGRES_URL / SENDCASE_KEYS_DATABASE_URL when set (production), else the running `sendcase up`'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from infra.cli.common import HomeOption, as_json, fail, session

app = typer.Typer(help="The keyring: every person's data key, wrapped by the master keys (docs/audit.md).")


def _keyring(home: Path | None) -> Any:
    from infra.stack.servers import StackState, sendcase_home
    from services.runtime.keyring import KEYS_FILE_NAME, PostgresKeyring
    from services.runtime.settings import load_settings

    overrides: dict[str, Any] = {}
    if not os.environ.get("SENDCASE_POSTGRES_URL") and not os.environ.get("SENDCASE_KEYS_DATABASE_URL"):
        where = sendcase_home(home)
        state = StackState.load(where)
        if state is None:
            fail(
                f"no keyring found: set SENDCASE_POSTGRES_URL (or SENDCASE_KEYS_DATABASE_URL), or start `sendcase up` "
                f"in {where}"
            )
        overrides["postgres_url"] = state.postgres_url
        if not os.environ.get("SENDCASE_KEYS_FILE") and not os.environ.get("SENDCASE_KEYS"):
            overrides["keys_file"] = str(where / "keys" / KEYS_FILE_NAME)
    settings = load_settings("keys", **overrides)
    try:
        master = settings.master_keys()
    except (OSError, ValueError) as e:
        fail(f"sendcase keys: {e}")
    try:
        return PostgresKeyring(settings.keyring_database_url, master, max_age=0)
    except Exception as e:
        fail(f"sendcase keys: cannot reach the keyring's database ({type(e).__name__}: {e})")


@app.command()
def rewrap(ctx: typer.Context, home: HomeOption = None) -> None:
    """After adding a master key to the keys file and making it `current`: wrap every data key by it (the data keys,
    and so everything sealed, do not change). Then the old master key can be removed from the file."""
    keyring = _keyring(home or session(ctx).home)
    try:
        count = keyring.rewrap()
        summary = keyring.summary()
    finally:
        keyring.close()
    if session(ctx).json:
        typer.echo(as_json({"rewrapped": count, **summary}))
    else:
        typer.echo(f"{count} data key(s) wrapped again by master key {summary['current']}.")
        typer.echo(_summary_line(summary))


@app.command()
def status(ctx: typer.Context, home: HomeOption = None) -> None:
    """How many people have a key, how many were erased, and which master key wraps how many (no key is shown)."""
    keyring = _keyring(home or session(ctx).home)
    try:
        summary = keyring.summary()
    finally:
        keyring.close()
    typer.echo(as_json(summary) if session(ctx).json else _summary_line(summary))


def _summary_line(summary: dict[str, Any]) -> str:
    wrapped = ", ".join(f"{n} by {k}" for k, n in sorted(summary["wrapped_by"].items())) or "none"
    return (
        f"{summary['people']} people: {summary['erased']} erased (their keys destroyed); keys wrapped: {wrapped}; "
        f"current master key {summary['current']}."
    )
