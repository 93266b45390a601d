"""The servers the tests (and `sendcase up`) run on are the versions sendcase needs."""

import nats

from infra.stack import EmbeddedNats


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
