"""Fixtures the gateway's integration tests share: the OpenID Connect provider the tests run, and the citizen
client's key (private_key_jwt, as GOV.UK One Login wants)."""

import pytest

from tests.support.oidc_provider import OidcTestProvider, new_key


@pytest.fixture(scope="module")
def provider():
    running = OidcTestProvider().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def citizen_key(tmp_path_factory):
    key = new_key("citizen-client")
    path = tmp_path_factory.mktemp("keys") / "citizen-client.pem"
    path.write_bytes(key.as_pem(private=True))
    return key, path
