from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone

import pytest

from tests.support.stack import EmbeddedServers, Sandbox, Servers, external_servers, new_prefix


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The tier is the folder: tests/unit, tests/integration, tests/e2e (run one with -m).
    for item in items:
        for tier in ("unit", "integration", "e2e"):
            if f"/tests/{tier}/" in str(item.fspath):
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Real PostgreSQL and NATS JetStream, started once per test session."""
    external = external_servers()
    if external is not None:
        yield external
        return
    embedded = EmbeddedServers(tmp_path_factory.mktemp("servers"))
    try:
        yield embedded.start()
    finally:
        embedded.stop()


@pytest.fixture
def sandbox(servers: Servers) -> Sandbox:
    return Sandbox(servers, new_prefix())


# A school day everyone can agree on, for deterministic tests.
SCHOOL_DAY = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
TODAY = date(2026, 11, 23)
