from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.runtime.keyring import InMemoryKeyring, use_keyring
from tests.support.stack import (
    EmbeddedServers,
    Sandbox,
    Servers,
    external_servers,
    new_prefix,
    use_servers,
)

# Processes the tests start (`sendcase ...`, `python -m infra.cli serve ...`) run this checkout's code, not
# whichever checkout the virtualenv's editable install points at (a git worktree shares its main checkout's
# .venv): the checkout's folder goes first on their path.
CHECKOUT = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (CHECKOUT, os.environ.get("PYTHONPATH")) if p)


# One keyring for the test process, as one serves every service of a deployment (services/runtime/keyring.py):
# services run in this process seal and open personal data with it, and pupil ids come from its blind index
# (set at import: test modules work out ids as they load). Service processes the tests start use their
# sandbox's keys and PostgreSQL keyring, as in production.
TEST_KEYRING = InMemoryKeyring()
use_keyring(TEST_KEYRING)


@pytest.fixture
def own_keyring() -> Iterator[InMemoryKeyring]:
    """A keyring of the test's own for a test that erases people: the same blind index (so ids are the same), its own
    data keys, so that the keys it destroys stay destroyed for it alone and not for the tests after it."""
    own = InMemoryKeyring(TEST_KEYRING.master)
    use_keyring(own)
    try:
        yield own
    finally:
        use_keyring(TEST_KEYRING)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The tier is the folder: tests/unit, tests/integration, tests/e2e (run one with -m).
    for item in items:
        for tier in ("unit", "integration", "e2e"):
            if f"/tests/{tier}/" in str(item.fspath):
                item.add_marker(getattr(pytest.mark, tier))


def server_dir(name: str) -> Path:
    """A folder for server data outside pytest's tmp tree: running as root, PostgreSQL runs as another
    user that must reach its data folder, and every pytest session resets its tmp root to mode 0700."""
    return Path(tempfile.mkdtemp(prefix=f"sendcase-{name}-"))


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """Real PostgreSQL and NATS JetStream, started once per test session."""
    external = external_servers()
    if external is not None:
        use_servers(external)
        yield external
        return
    root = server_dir("test-servers")
    embedded = EmbeddedServers(root)
    try:
        started = embedded.start()
        use_servers(started)
        yield started
    finally:
        embedded.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def sandbox(servers: Servers) -> Sandbox:
    # the test process's master keys: ids the tests work out (a pupil's from their UPN) are the services' own
    return Sandbox(servers, new_prefix(), keys=TEST_KEYRING.master.to_json())


# A school day everyone can agree on, for deterministic tests.
SCHOOL_DAY = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
TODAY = date(2026, 11, 23)
