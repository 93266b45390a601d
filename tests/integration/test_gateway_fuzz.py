"""Schemathesis fuzzes the whole API from its OpenAPI document, against the running gateway and the real register and
notifications services, bounded in time: not one 5xx; invalid requests are refused and write nothing (the services'
logs stand where they stood); and data the schema allows is never answered with a server error either."""

import asyncio
import re
import sys
from pathlib import Path

import pytest

from services.register.bootstrap import bootstrap as register_bootstrap
from tests.support.gateway import API_AUDIENCE, production_gateway
from tests.support.notifications import delivery_settings, notifications_service
from tests.support.oidc_provider import OidcTestProvider
from tests.support.stack import Sandbox, running_service

SENCO = {"sub": "u-fuzz", "email": "senco@fuzz.sch.uk", "groups": ["SENCO-123456"]}
# each run is bounded: negative data first, then data the schema allows
SECONDS = {"negative": 45, "positive": 30}
# negative data must be refused (4xx) as well as never answered 5xx
CHECKS = {"negative": "not_a_server_error,negative_data_rejection", "positive": "not_a_server_error"}
UNLIMITED = dict(api_per_minute_per_person=1_000_000, api_per_minute_per_address=1_000_000)


def log_position(runtime) -> int:
    return runtime.service.store.app.max_notification_id()


def readable(output: str) -> str:
    """Schemathesis's report with long runs of one repeated character or escape shortened, so that what failed
    (the operation, the status, the check) is not pushed out of the message by a megabyte of one character."""
    return re.sub(
        r"((?:\\u[0-9a-fA-F]{4})|.)\1{40,}", lambda m: f"{m.group(1)}<...x{len(m.group(0)) // len(m.group(1))}>", output
    )


async def schemathesis(url: str, token: str, mode: str, report: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/api/v1/openapi.json",
        "--mode",
        mode,
        "--checks",
        CHECKS[mode],
        "--max-time",
        str(SECONDS[mode]),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--warnings",
        "off",
        "--no-color",
        "--header",
        f"Authorization: Bearer {token}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=report.parent,  # it keeps a cache of what it found in its working folder: not in the checkout
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=SECONDS[mode] + 120)
    text = output.decode(errors="replace")
    report.write_text(text)
    assert process.returncode is not None
    return process.returncode, text


@pytest.mark.timeout(400)
async def test_the_fuzzed_api_never_answers_5xx_and_invalid_requests_write_nothing(
    sandbox: Sandbox, provider: OidcTestProvider, citizen_key, tmp_path: Path
) -> None:
    async with (
        running_service(register_bootstrap, sandbox.settings("register")) as register,
        notifications_service(sandbox.settings("notifications"), delivery_settings(tmp_path / "outbox")) as notes,
        production_gateway(sandbox, provider, citizen_key, **UNLIMITED) as gateway,
    ):
        token = provider.access_token(SENCO, API_AUDIENCE, expires_in=3600)
        before = (log_position(register), log_position(notes))

        operations = len(gateway.app.openapi()["paths"])
        code, output = await schemathesis(gateway.url, token, "negative", tmp_path / "negative.txt")
        assert code == 0, readable(output)[-8000:]
        assert_ran(output, operations)
        assert (log_position(register), log_position(notes)) == before, "an invalid request was stored"

        code, output = await schemathesis(gateway.url, token, "positive", tmp_path / "positive.txt")
        assert code == 0, readable(output)[-8000:]
        assert_ran(output, operations)


def assert_ran(output: str, operations: int) -> None:
    """The run tested every operation, many times each: a fuzz that reached nothing proves nothing."""
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert tested and int(tested.group(1)) == operations, output[-3000:]
    assert cases and int(cases.group(1)) == int(cases.group(2)) >= 10 * operations, output[-3000:]
