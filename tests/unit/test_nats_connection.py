"""Connecting to NATS: a URL's password never shown, and TLS settings that make sense."""

import ssl

import pytest

from services.runtime.logging import mask
from services.runtime.nats_connection import tls_context, without_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("tls://register:pS3cret@nats-1:4222", "tls://register:***@nats-1:4222"),
        (
            "nats://client:p@127.0.0.1:4222,nats://client:p@nats-2:4222",
            "nats://client:***@127.0.0.1:4222,nats://client:***@nats-2:4222",
        ),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("nats://token@nats-1:4222", "nats://token@nats-1:4222"),
    ],
)
def test_a_nats_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert without_password(url) == shown


def test_logs_never_show_a_password_in_a_url() -> None:
    line = "connected to nats://register:pS3cret@nats-1:4222 and postgresql://app:hunter2@db:5432/x"
    assert "pS3cret" not in mask(line) and "hunter2" not in mask(line)
    assert "nats://register:***@nats-1:4222" in mask(line)


def test_no_tls_settings_no_context_and_a_certificate_needs_its_key() -> None:
    assert tls_context(None, None, None) is None
    context = tls_context(ssl.get_default_verify_paths().cafile or None)
    assert context is None or context.verify_mode is ssl.CERT_REQUIRED
    with pytest.raises(ValueError, match="both its certificate file and its key file"):
        tls_context(None, "/etc/nats/tls/service.pem", None)
