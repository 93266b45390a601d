"""The NATS permissions are generated from what the services declare; production's file is that output."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.catalogue import CATALOGUE
from infra.stack.nats_users import ANY, NatsCredentials, permissions, users, users_config

pytestmark = pytest.mark.unit

PRODUCTION_USERS = Path(__file__).resolve().parents[2] / "infra" / "production" / "sendcase-users.conf"


def test_the_production_users_file_is_the_generated_one() -> None:
    assert PRODUCTION_USERS.read_text() == users_config(), (
        "infra/production/sendcase-users.conf is out of date: "
        "python -m infra.stack.nats_users > infra/production/sendcase-users.conf"
    )


def test_only_the_gateway_and_the_operator_publish_commands() -> None:
    senders = {p.user for p in permissions() if any(".commands." in s for s in p.publish)}
    assert senders == {"gateway", "operator"}


def test_the_gateway_may_send_every_public_message_and_nothing_else_of_a_service() -> None:
    gateway = next(p for p in permissions() if p.user == "gateway")
    expected = {
        f"sendcase.{kind}.{m.SUBJECT}"
        for contract in CATALOGUE.values()
        for kind, messages in (("commands", contract.public_commands), ("queries", contract.public_queries))
        for m in messages
    }
    assert {s for s in gateway.publish if ".commands." in s or ".queries." in s} == expected
    assert "sendcase.commands.notifications.delivery_receipt" not in gateway.publish
    assert gateway.subscribe == ["_INBOX.gateway.>"]


def test_each_service_publishes_only_its_own_events_and_reads_only_its_own_inbox() -> None:
    for p in permissions():
        if p.user in ("gateway", "operator"):
            continue
        events = [s for s in p.publish if ".events." in s]
        assert events == [f"sendcase.events.{p.user}.>"]
        assert [s for s in p.subscribe if s.startswith("_INBOX")] == [f"_INBOX.{p.user}.>"]
        assert p.allow_responses


def test_the_test_servers_rules_are_the_same_with_any_prefix() -> None:
    production, anywhere = permissions(), permissions(ANY)
    for a, b in zip(production, anywhere, strict=True):
        assert a.user == b.user
        assert len(a.publish) == len(b.publish) and len(a.subscribe) == len(b.subscribe)
        assert all(s.replace("sendcase.", "*.", 1) in b.publish or "$JS" in s for s in a.publish)


def test_credentials_are_made_once_kept_private_and_hashed_in_the_server_config(tmp_path: Path) -> None:
    made = NatsCredentials.ensure(tmp_path)
    again = NatsCredentials.ensure(tmp_path)
    assert made.passwords == again.passwords and set(made.passwords) == set(users())
    assert (tmp_path / "nats-credentials.json").stat().st_mode & 0o077 == 0
    config = made.server_config("sendcase", cost=4)
    for password in made.passwords.values():
        assert password not in config
    assert config.count('password: "$2b$04$') == len(users())
    assert (
        made.url("register", "nats://127.0.0.1:4222") == f"nats://register:{made.passwords['register']}@127.0.0.1:4222"
    )
