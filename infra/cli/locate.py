"""Finding a running stack from the CLI (the client itself is services/runtime/client.py)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from contracts.subjects import DEFAULT_PREFIX
from infra.stack.nats_users import stack_nats_url
from infra.stack.servers import StackState, pid_alive, sendcase_home
from services.runtime.client import Client
from services.runtime.nats_connection import tls_context

__all__ = ["Client", "StackNotRunning", "locate", "tls_from_environment"]


class StackNotRunning(RuntimeError):
    pass


def locate(home: Path | None = None) -> tuple[str, str]:
    """(nats_url, subject_prefix): from SENDCASE_NATS_URL if set, else the running `sendcase up` (as its
    operator, whose password is in the stack's home: the CLI is an operator's tool, docs/security.md)."""
    if os.environ.get("SENDCASE_NATS_URL"):
        return os.environ["SENDCASE_NATS_URL"], os.environ.get("SENDCASE_SUBJECT_PREFIX", DEFAULT_PREFIX)
    home = home or sendcase_home()
    state = StackState.load(home)
    if state is None or not pid_alive(state.supervisor_pid):
        raise StackNotRunning(f"no running sendcase found in {home}: start it with `sendcase up`")
    return stack_nats_url(home, state.nats_url), state.subject_prefix


def tls_from_environment() -> ssl.SSLContext | None:
    """TLS to NATS as the services have it: SENDCASE_NATS_TLS_CA_FILE, _CERT_FILE and _KEY_FILE (PEM)."""
    env = os.environ.get
    return tls_context(
        env("SENDCASE_NATS_TLS_CA_FILE"), env("SENDCASE_NATS_TLS_CERT_FILE"), env("SENDCASE_NATS_TLS_KEY_FILE")
    )
