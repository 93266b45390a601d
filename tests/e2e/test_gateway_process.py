"""The gateway as `sendcase serve gateway` runs it, in its own process in front of the register's: a demo SENCO signs
in with the development sign-in and enrols a pupil of their school through the API, and is refused another school's;
a production configuration with the development sign-in refuses to start."""

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from contracts.identifiers import upn_check_letter
from tests.support.gateway import DEMO_PEOPLE, Browser, bound_socket, gateway_nats_url
from tests.support.stack import Sandbox, eventually


def start(service: str, env: dict[str, str], logs: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", service],
        env=env,
        stdout=open(logs / f"{service}.log", "ab"),
        stderr=subprocess.STDOUT,
    )


def gateway_env(sandbox: Sandbox, logs: Path, port: int, **extra: str) -> dict[str, str]:
    return sandbox.env(
        "gateway",
        SENDCASE_HOME=str(logs / "home"),
        SENDCASE_GATEWAY_NATS_URL=gateway_nats_url(sandbox.servers),
        SENDCASE_GATEWAY_PORT=str(port),
        SENDCASE_GATEWAY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        **extra,
    )


def pupil(upn: str, urn: str) -> dict:
    return {
        "school_urn": urn,
        "pupil": {"upn": upn, "given_name": "Ola", "family_name": "Nowak", "date_of_birth": "2018-05-02"},
        "on_roll_from": "2025-09-01",
    }


async def test_a_demo_senco_acts_through_the_gateway_process(sandbox: Sandbox, processes, tmp_path: Path) -> None:
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()  # the gateway binds it itself
    url = f"http://127.0.0.1:{port}"
    upn = upn_check_letter("000900100001") + "000900100001"
    processes["register"] = start("register", sandbox.env("register", SENDCASE_HOME=str(tmp_path / "home")), tmp_path)
    processes["gateway"] = start(
        "gateway",
        gateway_env(
            sandbox,
            tmp_path,
            port,
            SENDCASE_GATEWAY_MODE="development",
            SENDCASE_GATEWAY_DEVELOPMENT_SIGN_IN="true",
            SENDCASE_GATEWAY_DEMO_PEOPLE=str(DEMO_PEOPLE),
        ),
        tmp_path,
    )

    async def healthy():
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{url}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(healthy, timeout=60, what="the gateway to be healthy")
    async with Browser() as browser:
        page = await browser.get(f"{url}/sign-in/development")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        home = await browser.post(f"{url}/sign-in/development", data={"person": "senco-900001", "csrf_token": token})
        assert "senco for school:900001" in home.text
        csrf = {"X-CSRF-Token": re.search(r'<code id="csrf-token">([^<]+)</code>', home.text).group(1)}

        async def enrolled():  # the register may still be starting
            answer = await browser.post(
                f"{url}/api/v1/register/commands/enrol_pupil", json=pupil(upn, "900001"), headers=csrf
            )
            return answer if answer.status_code != 503 else None

        answer = await eventually(enrolled, timeout=60, what="the register to answer through the gateway")
        assert answer.status_code == 200 and answer.json()["outcome"] == "accepted", answer.text
        read = await browser.post(f"{url}/api/v1/register/queries/pupil", json={"upn": upn}, headers=csrf)
        assert read.status_code == 200 and read.json()["result"]["upn"] == upn
        other = await browser.post(
            f"{url}/api/v1/register/commands/enrol_pupil", json=pupil(upn, "900101"), headers=csrf
        )
        assert other.status_code == 403 and other.json()["code"] == "not_authorised"

    processes["gateway"].send_signal(signal.SIGTERM)
    assert processes["gateway"].wait(30) == 0


def test_a_production_gateway_with_the_development_sign_in_refuses_to_start(sandbox: Sandbox, tmp_path: Path) -> None:
    env = gateway_env(
        sandbox,
        tmp_path,
        1,
        SENDCASE_GATEWAY_MODE="production",
        SENDCASE_GATEWAY_DEVELOPMENT_SIGN_IN="true",
        SENDCASE_GATEWAY_DEMO_PEOPLE=str(DEMO_PEOPLE),
    )
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "serve", "gateway"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "DEVELOPMENT_SIGN_IN is on in a production configuration" in done.stderr
    assert "Traceback" not in done.stderr
