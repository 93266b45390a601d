"""What the end-to-end tests that run services in their own processes share."""

import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.stack import Sandbox


@pytest.fixture
def processes(sandbox: Sandbox, tmp_path: Path):
    running: dict[str, subprocess.Popen] = {}
    yield running
    for proc in running.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    for log in tmp_path.glob("*.log"):  # shown by pytest when the test fails
        print(f"--- {log.name}\n{log.read_text()[-4000:]}")
