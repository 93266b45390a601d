"""The event store's pooled connections are not pinged before each checkout unless asked for (a round trip
per checkout): `database_pre_ping`, SENDCASE_DATABASE_PRE_PING (or per service), off by default."""

import pytest

from services.runtime.eventstore import postgres_env
from services.runtime.settings import load_settings

URL = "postgresql://postgres:secret@db.example:5433/sendcase_notifications"


def test_no_ping_before_each_checkout_by_default() -> None:
    assert postgres_env(URL)["POSTGRES_PRE_PING"] == "n"
    assert postgres_env(URL, pre_ping=True)["POSTGRES_PRE_PING"] == "y"


def test_the_setting_is_off_unless_the_environment_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings("notifications").database_pre_ping is False
    monkeypatch.setenv("SENDCASE_DATABASE_PRE_PING", "true")
    assert load_settings("notifications").database_pre_ping is True
    monkeypatch.delenv("SENDCASE_DATABASE_PRE_PING")
    monkeypatch.setenv("SENDCASE_REGISTER_DATABASE_PRE_PING", "true")
    assert load_settings("register").database_pre_ping is True
    assert load_settings("notifications").database_pre_ping is False
