"""What the README promises a newcomer: `sendcase up`, `status`, `demo`, Ctrl-C, and data kept."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra.stack.servers import StackState, pid_alive
from tests.conftest import server_dir

SENDCASE = str(Path(sys.executable).parent / "sendcase")


def sendcase(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDCASE_")}
    env["SENDCASE_HOME"] = str(home)
    return subprocess.run([SENDCASE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def start_up(home: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDCASE_")}
    env["SENDCASE_HOME"] = str(home)
    return subprocess.Popen(
        [SENDCASE, "up"], env=env, stdout=open(home.parent / "up.log", "ab"), stderr=subprocess.STDOUT
    )


def read_up_log(home: Path) -> str:
    return (home.parent / "up.log").read_text()


def wait_until_up(home: Path, up: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert up.poll() is None, (home.parent / "up.log").read_text()
        if sendcase(home, "status").returncode == 0:
            return
        time.sleep(1)
    pytest.fail("sendcase did not come up:\n" + (home.parent / "up.log").read_text())


@pytest.fixture
def home():
    home = server_dir("newcomer") / "sendcase-home"
    home.mkdir()
    yield home
    state = StackState.load(home)
    if state and pid_alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGTERM)
        time.sleep(5)
    log = home.parent / "up.log"
    print(log.read_text() if log.exists() else "")
    shutil.rmtree(home.parent, ignore_errors=True)


def test_up_status_demo_ctrl_c_and_up_again(home: Path) -> None:
    assert sendcase(home, "status").returncode == 1  # nothing running yet: says so, exits non-zero

    up = start_up(home)
    wait_until_up(home, up)
    status = sendcase(home, "status")
    for name in ("postgresql", "nats", "register", "notifications", "gateway"):
        assert re.search(rf"{name}\s+up", status.stdout), status.stdout
    # `up` says where the gateway is and how to sign in: the development sign-in, a demo person to pick
    said = re.search(r"Sign in at (http://127\.0\.0\.1:\d+)/sign-in \(development sign-in", read_up_log(home))
    assert said, read_up_log(home)
    gateway = said.group(1)

    demo = sendcase(home, "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "status K" in demo.stdout
    assert "Jo Taylor (mother): delivered by email" in demo.stdout
    assert "Chris Taylor (father): delivered by letter" in demo.stdout
    assert "LA counts as at" in demo.stdout
    # the parents' messages are files a newcomer can open, in the home's outbox
    pupil_id = re.search(r"'pupil_id': '([0-9a-f-]{36})'", demo.stdout).group(1)
    [email] = list((home / "outbox" / pupil_id).glob("*.email.txt"))
    [letter] = list((home / "outbox" / pupil_id).glob("*.letter.pdf"))
    assert "Dear Jo Taylor" in email.read_text() and letter.read_bytes().startswith(b"%PDF")
    upn = re.search(r"\(UPN ([A-Z0-9]{13})\)", demo.stdout).group(1)

    state = StackState.load(home)
    children = [state.postgres_pid, state.nats_pid, *state.services.values()]
    up.send_signal(signal.SIGINT)  # Ctrl-C
    assert up.wait(90) == 0
    assert not any(pid_alive(pid) for pid in children), "Ctrl-C left processes running"
    assert sendcase(home, "status").returncode == 1

    up = start_up(home)
    wait_until_up(home, up)
    record = sendcase(
        home,
        "--json",
        "--as-user",
        "auditor@la",
        "--as-role",
        "auditor",
        "--as-org",
        "la:000",
        "register",
        "pupil",
        upn,
    )
    assert record.returncode == 0, record.stdout + record.stderr
    view = json.loads(record.stdout)["result"]
    assert view["status"] == "K" and view["history"][0]["by_role"] == "senco"
    # the same record through the gateway: the demo auditor signs in and reads it over the API
    with httpx.Client(base_url=gateway, timeout=30, follow_redirects=True) as browser:
        page = browser.get("/sign-in/development")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        home_page = browser.post("/sign-in/development", data={"person": "auditor", "csrf_token": token})
        assert "auditor for la:000" in home_page.text
        csrf = re.search(r'<code id="csrf-token">([^<]+)</code>', home_page.text).group(1)
        read = browser.post("/api/v1/register/queries/pupil", json={"upn": upn}, headers={"X-CSRF-Token": csrf})
        assert read.status_code == 200 and read.json()["result"]["status"] == "K", read.text
    # the gateway is supervised like the services: killed, it is started again on its address
    killed = StackState.load(home).services["gateway"]
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while StackState.load(home).services["gateway"] == killed or sendcase(home, "status").returncode != 0:
        assert time.monotonic() < deadline, read_up_log(home)
        time.sleep(1)
    assert httpx.get(f"{gateway}/healthz", timeout=10).json()["status"] == "ok"

    refused = sendcase(
        home,
        "--json",
        "--as-user",
        "senco@demo",
        "--as-role",
        "senco",  # a SENCO acts for the school named
        "register",
        "add-to-sen-support",
        "--school",
        "900001",
        "--upn",
        upn,
        "--given-name",
        "Sam",
        "--family-name",
        "Taylor",
        "--date-of-birth",
        "2017-03-14",
        "--primary-need",
        "SLCN",
        "--reason",
        "again",
    )
    assert refused.returncode == 1 and "already_on_sen_support" in refused.stdout
    # without --json: the record as a person reads it, and the refusal in words on stderr
    card = sendcase(
        home, "--as-user", "auditor@la", "--as-role", "auditor", "--as-org", "la:000", "register", "pupil", upn
    )
    assert card.returncode == 0 and "SEN status:" in card.stdout and "SEN support (K)" in card.stdout, card.stdout
    assert "Traceback" not in card.stdout + card.stderr
    words = sendcase(
        home,
        "--as-user",
        "senco@demo",
        "--as-role",
        "senco",
        "register",
        "add-to-sen-support",
        "--school",
        "900001",
        "--upn",
        upn,
        "--given-name",
        "Sam",
        "--family-name",
        "Taylor",
        "--date-of-birth",
        "2017-03-14",
        "--primary-need",
        "SLCN",
        "--reason",
        "again",
    )
    assert words.returncode == 1 and "already on the SEN register" in words.stderr and words.stdout == ""

    assert sendcase(home, "down").returncode == 0
    assert up.wait(90) == 0
