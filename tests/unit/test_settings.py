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
