from services.runtime.settings import load_settings, stream_names


def test_service_specific_environment_wins_over_shared(monkeypatch) -> None:
    monkeypatch.setenv("SENDCASE_NATS_URL", "nats://shared:4222")
    monkeypatch.setenv("SENDCASE_REGISTER_NATS_URL", "nats://register-only:4222")
    monkeypatch.setenv("SENDCASE_POSTGRES_URL", "postgresql://u:p@db:5432/postgres")
    register = load_settings("register")
    notifications = load_settings("notifications")
    assert register.nats_url == "nats://register-only:4222"
    assert notifications.nats_url == "nats://shared:4222"
    assert register.database_url == "postgresql://u:p@db:5432/sendcase_register"
    assert notifications.database_name == "sendcase_notifications"


def test_explicit_database_url_is_used_as_given(monkeypatch) -> None:
    monkeypatch.setenv("SENDCASE_REGISTER_DATABASE_URL", "postgresql://u@db/register_prod")
    assert load_settings("register").database_name == "register_prod"


def test_stream_names_follow_the_prefix() -> None:
    assert stream_names("sendcase") == ("SENDCASE_EVENTS", "SENDCASE_DEADLETTER")


def test_delivery_defaults_to_the_file_outbox_under_the_sendcase_home(monkeypatch, tmp_path) -> None:
    from pathlib import Path

    import pytest
    from pydantic import ValidationError

    from services.notifications.adapters.channels import FileOutbox
    from services.notifications.bootstrap import transports
    from services.notifications.settings import (
        NotificationsSettings as DeliverySettings,
    )

    monkeypatch.setenv("SENDCASE_HOME", str(tmp_path))
    delivery = DeliverySettings()
    assert delivery.outbox_dir == Path(tmp_path) / "outbox"
    assert all(isinstance(t, FileOutbox) for t in transports(delivery).values())
    monkeypatch.setenv("SENDCASE_NOTIFICATIONS_EMAIL_VIA", "notify")
    with pytest.raises(ValidationError, match="notify_api_key is needed"):
        DeliverySettings()
    monkeypatch.setenv("SENDCASE_NOTIFICATIONS_EMAIL_VIA", "fax")
    with pytest.raises(ValidationError, match="email_via"):
        DeliverySettings()


def test_a_nats_cluster_is_named_by_a_list_of_its_servers(monkeypatch) -> None:
    import pytest

    from services.runtime.nats_connection import nats_servers

    cluster = "nats://n1:4222,nats://n2:4222, nats://n3:4222"
    monkeypatch.setenv("SENDCASE_NATS_URL", cluster)
    assert load_settings("register").nats_servers == ["nats://n1:4222", "nats://n2:4222", "nats://n3:4222"]
    assert nats_servers("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    with pytest.raises(ValueError):
        nats_servers(" , ")
