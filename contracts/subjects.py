"""NATS subject names. One place, so that publishers, subscribers and the CLI agree."""

from __future__ import annotations

DEFAULT_PREFIX = "sendcase"


def event_subject(prefix: str, event_type: str) -> str:
    """`register.pupil_added_to_sen_support` -> `sendcase.events.register.pupil_added_to_sen_support`."""
    return f"{prefix}.events.{event_type}"


def service_events(prefix: str, service: str) -> str:
    return f"{prefix}.events.{service}.>"


def all_events(prefix: str) -> str:
    return f"{prefix}.events.>"


def audit_subject(prefix: str, service: str, kind: str = "anchor") -> str:
    """A service's signed checkpoints of its hash chain: `sendcase.audit.register.anchor` (docs/audit.md)."""
    return f"{prefix}.audit.{service}.{kind}"


def all_audit(prefix: str) -> str:
    return f"{prefix}.audit.>"


def command_subject(prefix: str, command_subject_name: str) -> str:
    return f"{prefix}.commands.{command_subject_name}"


def query_subject(prefix: str, query_subject_name: str) -> str:
    return f"{prefix}.queries.{query_subject_name}"


def ping_subject(prefix: str, service: str) -> str:
    return f"{prefix}.ping.{service}"


def dead_letter_subject(prefix: str, consumer: str) -> str:
    return f"{prefix}.deadletter.{consumer}"


def all_dead_letters(prefix: str) -> str:
    return f"{prefix}.deadletter.>"


def parked_events_subject(prefix: str, service: str) -> str:
    """An operator's requests about a service's parked events (list, retry, skip)."""
    return f"{prefix}.admin.{service}.parked_events"


# The NATS users through which people act: the gateway (for a signed-in person) and the operator (the CLI). Only
# they may send commands; a service may send only the queries its contract asks (contracts/catalogue.py).
GATEWAY_USER = "gateway"
OPERATOR_USER = "operator"
PEOPLES_USERS = (GATEWAY_USER, OPERATOR_USER)


def inbox_owner(reply_to: str) -> str | None:
    """Whose inbox a reply subject is: `_INBOX.gateway.abc.1` -> `gateway`; anything else (a JetStream
    acknowledgement subject, say) -> None. Each NATS user may read only its own inboxes, so this says who asked."""
    parts = reply_to.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "_INBOX" else None


def inbox_prefix(user: str) -> str:
    """Where a NATS user's replies come: `_INBOX.register.<id>`. Each user may read only its own inboxes
    (infra/production/sendcase-users.conf), so it cannot read the replies and deliveries meant for another."""
    return f"_INBOX.{user}"
