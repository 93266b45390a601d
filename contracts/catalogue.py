"""What each service answers, declared once: its commands, its queries, and the other services' queries it
needs to ask.

Everything that must know a service's messages reads them from here rather than from a hand-written list:
- the service's own routes are checked against it (tests/unit/test_catalogue.py), so a command routed but
  not declared, or declared but not routed, fails a test;
- the gateway generates its HTTP API (`/api/v1/<service>/commands/<name>`, `/api/v1/<service>/queries/<name>`)
  and its OpenAPI document from it;
- the NATS permissions of every user (infra/stack/nats_users.py) are generated from it: a service may
  answer its own commands and queries and send only the queries named in its `asks`; only the gateway
  (and an operator) may send commands.

A new service joins by declaring its `CONTRACT` in its contracts package and adding it to CATALOGUE.
"""

from __future__ import annotations

from contracts.service import ServiceContract, name_of

__all__ = ["CATALOGUE", "ServiceContract", "name_of"]


def _catalogue() -> dict[str, ServiceContract]:
    from contracts.notifications import CONTRACT as notifications
    from contracts.register import CONTRACT as register

    return {c.name: c for c in (register, notifications)}


CATALOGUE: dict[str, ServiceContract] = _catalogue()
