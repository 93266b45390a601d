"""Register commands under open-loop load, end to end, with the CPU each process spends per command.

Run on demand (not a test):  .venv/bin/python benchmarks/register_commands.py [--quick]
Uses the embedded PostgreSQL and NATS (or SENDCASE_TEST_POSTGRES_URL / SENDCASE_TEST_NATS_URL; then the
servers' own CPU cannot be read and is shown as n/a).

The register and notifications run as they do in production, each in its own process (`sendcase serve`).
The load generator (this process) sends "add to SEN support" for new pupils at a fixed rate, whatever the
replies (open loop: a slow reply does not slow the sending), and times:
- the reply to each command (sent -> Accepted received);
- command -> `notification_owed`: sent -> the notifications service's own fact on the bus that a letter is
  owed to the family (the register's fact relayed, consumed, owed, saved, relayed);
- the CPU each process spent (register, notifications, PostgreSQL, NATS, from /proc) divided by the
  commands done; the generator's own CPU is reported apart.
Then it offers higher rates, a few seconds each, and reports the highest one still sustained (every command
answered, reply p99 within the goal).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats

from benchmarks._report import Figure, Goal, percentile, table
from benchmarks._support import senco, upn
from contracts.envelope import CommandEnvelope, ServiceHealth
from contracts.identifiers import NeedType
from contracts.register import AddToSenSupport, PupilIdentity
from contracts.subjects import OPERATOR_USER, command_subject, event_subject, inbox_prefix, ping_subject
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from infra.stack.servers import all_pids, arguments, pid_alive, stop_process, working_folder
from services.register.domain.pupil import Pupil

REPLY_P99_MS = 50.0
OWED_P99_MS = 100.0
CPU_PER_COMMAND_MS = 7.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def server_pids(root: Path) -> dict[str, list[int]]:
    """The embedded servers' processes under this scratch folder (PostgreSQL: the postmaster and every
    backend; NATS: nats-server)."""
    found: dict[str, list[int]] = {"postgresql": [], "nats": []}
    for pid in all_pids():
        args = arguments(pid)
        if not args or not pid_alive(pid):
            continue
        name = Path(args[0]).name
        if name.startswith("postgres"):
            folder = working_folder(pid)
            if folder is not None and str(folder).startswith(str(root)):
                found["postgresql"].append(pid)
        elif "nats-server" in name and str(root) in " ".join(args):
            found["nats"].append(pid)
    return found


def command(serial: int) -> bytes:
    add = AddToSenSupport(
        school_urn="123456",
        pupil=PupilIdentity(
            upn=upn(serial), given_name="Sam", family_name=f"Taylor{serial}", date_of_birth=date(2017, 3, 14)
        ),
        primary_need=NeedType.SLCN,
        secondary_need=None,
        effective_date=date(2026, 11, 20),
        reason="Little progress after two APDR cycles of speech and language work.",
    )
    return CommandEnvelope[AddToSenSupport](command=add, actor=senco()).model_dump_json().encode()


@dataclass
class Run:
    rate: float
    seconds: float
    sent: dict[str, float] = field(default_factory=dict)  # pupil id -> when sent
    replies_ms: list[float] = field(default_factory=list)
    owed_ms: list[float] = field(default_factory=list)
    refused: int = 0
    lost: int = 0
    elapsed: float = 0.0

    @property
    def offered(self) -> int:
        return len(self.sent)

    @property
    def sustained(self) -> bool:
        return self.lost == 0 and self.refused == 0 and percentile(self.replies_ms, 99) <= REPLY_P99_MS


async def open_loop(nc, prefix: str, first: int, rate: float, seconds: float, owed: dict[str, float]) -> Run:
    """Send `rate` commands a second for `seconds`, on schedule whatever the replies; wait for every reply
    and every owed notification (or give up after 30 s)."""
    run = Run(rate, seconds)
    count = int(rate * seconds)
    bodies = [(str(Pupil.create_id(upn(first + i))), command(first + i)) for i in range(count)]
    subject = command_subject(prefix, AddToSenSupport.SUBJECT)
    loop = asyncio.get_running_loop()

    async def one(pupil_id: str, body: bytes) -> None:
        sent = loop.time()
        run.sent[pupil_id] = sent
        try:
            msg = await nc.request(subject, body, timeout=30)
        except Exception:
            run.lost += 1
            return
        run.replies_ms.append((loop.time() - sent) * 1000)
        if b'"outcome":"accepted"' not in msg.data:
            run.refused += 1

    tasks = []
    start = loop.time()
    for i, (pupil_id, body) in enumerate(bodies):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(pupil_id, body)))
    await asyncio.gather(*tasks)
    deadline = loop.time() + 30
    while loop.time() < deadline and any(p not in owed for p in run.sent):
        await asyncio.sleep(0.05)
    run.elapsed = loop.time() - start
    run.owed_ms = [(owed[p] - run.sent[p]) * 1000 for p in run.sent if p in owed]
    run.lost += sum(p not in owed for p in run.sent)
    return run


def start_service(service: str, sandbox: Sandbox, root: Path) -> subprocess.Popen:
    env = sandbox.env(service, SENDCASE_HOME=str(root / "home"))
    env.pop("SENDCASE_POLL_SECONDS", None)  # production defaults, not the tests' quick polling
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", service],
        env=env,
        stdout=open(root / f"{service}.log", "ab"),
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[1],
    )


async def wait_for_ping(nc, prefix: str, service: str) -> None:
    for _ in range(600):
        try:
            msg = await nc.request(ping_subject(prefix, service), b"", timeout=1)
            ServiceHealth.model_validate_json(msg.data)
            return
        except Exception:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{service} did not start")


async def measure(quick: bool) -> list[Figure]:
    seconds, steps = (8.0, [300, 400]) if quick else (30.0, [300, 400, 500, 600, 800])
    with scratch_servers("bench-commands") as (servers, root):
        sandbox = Sandbox(servers, new_prefix())
        await sandbox.open_keyring()  # as a service does at start: the process's keyring
        procs = {s: start_service(s, sandbox, root) for s in ("register", "notifications")}
        nc = await nats.connect(servers.nats_url, inbox_prefix=inbox_prefix(OPERATOR_USER))
        try:
            for service in procs:
                await wait_for_ping(nc, sandbox.prefix, service)
            owed: dict[str, float] = {}
            loop = asyncio.get_running_loop()

            async def on_owed(msg) -> None:
                owed[json.loads(msg.data)["payload"]["pupil_id"]] = loop.time()

            await nc.subscribe(event_subject(sandbox.prefix, "notifications.notification_owed"), cb=on_owed)
            await open_loop(nc, sandbox.prefix, 90_000, 50, 2, owed)  # warm up: connections, caches

            pids = {s: [p.pid] for s, p in procs.items()} | server_pids(root)
            before = {s: cpu_seconds(p) for s, p in pids.items()}
            generator_before = time.process_time()
            main = await open_loop(nc, sandbox.prefix, 0, 200, seconds, owed)
            generator = time.process_time() - generator_before
            spent = {s: cpu_seconds(p) - before[s] for s, p in pids.items()}
            done = max(1, main.offered - main.lost)

            # Up from 200 while sustained; or, when 200 is not, down until a rate is.
            highest, first = (200.0 if main.sustained else 0.0), 20_000
            tried = [f"200/s: p99 {percentile(main.replies_ms, 99):.0f} ms"]
            for rate in steps if main.sustained else [150, 100, 50]:
                step = await open_loop(nc, sandbox.prefix, first, rate, 5.0, owed)
                first += int(rate * 5.0)
                tried.append(
                    f"{rate}/s: p99 {percentile(step.replies_ms, 99):.0f} ms"
                    + (f", {step.lost} lost" if step.lost else "")
                )
                if step.sustained and rate > highest:
                    highest = float(rate)
                if step.sustained != main.sustained:
                    break
        finally:
            await nc.close()
            for proc in procs.values():
                stop_process(proc)

    external = os.environ.get("SENDCASE_TEST_POSTGRES_URL") is not None
    figures = [
        Figure(
            f"register command reply p99, open loop 200/s for {seconds:.0f} s",
            percentile(main.replies_ms, 99),
            "ms",
            Goal.at_most(REPLY_P99_MS),
            note=f"p50 {percentile(main.replies_ms, 50):.1f} ms; {main.offered} sent, {main.lost} lost, "
            f"{main.refused} refused",
        ),
        Figure(
            "command -> notification_owed p99, 200/s",
            percentile(main.owed_ms, 99),
            "ms",
            Goal.at_most(OWED_P99_MS),
            note=f"p50 {percentile(main.owed_ms, 50):.1f} ms",
        ),
    ]
    per_command = {s: spent[s] * 1000 / done for s in spent}
    total = sum(per_command.values()) if not external else float("nan")
    figures.append(
        Figure(
            "CPU per register command, end to end",
            total,
            "ms",
            Goal.at_most(CPU_PER_COMMAND_MS),
            note=", ".join(f"{s} {ms:.2f} ms" for s, ms in per_command.items())
            + f"; load generator apart: {generator * 1000 / done:.2f} ms",
        )
    )
    figures.append(
        Figure(
            "highest sustained command rate (reply p99 <= 50 ms, none lost)",
            highest,
            "commands/s",
            Goal.at_least(200),
            note=f"offered in turn (5 s each after the 200/s run): {'; '.join(tried)}",
        )
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(table(asyncio.run(measure(args.quick))))
