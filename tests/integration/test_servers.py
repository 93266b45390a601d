"""The servers the tests (and `sendcase up`) run on are the versions sendcase needs."""

import nats

from infra.stack.servers import EmbeddedNats


async def test_nats_server_supports_multiple_filter_subjects_and_wildcard_last_message(servers) -> None:
    # Older servers (a distribution's 2.9, say) silently ignore a consumer's filter_subjects list and
    # would hand a tracked consumer every event in the stream.
    nc = await nats.connect(servers.nats_url)
    try:
        version = nc.connected_server_version
        assert (version.major, version.minor) >= EmbeddedNats.MINIMUM_VERSION, f"nats-server {version}"
    finally:
        await nc.close()


def test_embedded_nats_is_the_wheels_server_not_the_first_on_path() -> None:
    assert EmbeddedNats.binary().startswith(__import__("sysconfig").get_path("scripts"))


def test_a_service_refuses_a_nats_server_older_than_2_10() -> None:
    import pytest

    from services.runtime.streams import NatsServerTooOld, check_server_version

    with pytest.raises(NatsServerTooOld, match=r"is 2\.9; sendcase needs 2\.10 or newer"):
        check_server_version(2, 9, "nats://old:4222")
    check_server_version(2, 10, "nats://new:4222")
    check_server_version(3, 0, "nats://newer:4222")
