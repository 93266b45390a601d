"""The register and notifications under hostile, repeated and poisoned input: every request answered?

Run on demand (not a test):  .venv/bin/python benchmarks/hostile_input.py [--requests 2000] [--seconds 120]
Uses the embedded PostgreSQL and NATS (or SENDCASE_TEST_POSTGRES_URL / SENDCASE_TEST_NATS_URL), runs both
services in this process with their logs captured, and sends a bounded mix of requests, many at once:
valid commands, each sent three times with the same command id (a client retrying); valid commands with a
NUL, a control character or a line break in a name; commands with fields of the wrong type, missing or
unknown; 20,000 unknown keys; JSON nested 100,000 deep; bytes that are not JSON. Then it checks and prints:
every request answered, how many of each outcome, internal errors (must be 0), facts stored and published
per accepted command (exactly one set), notifications owed per pupil (exactly one per duty), every read
model caught up with nothing parked, and no name, email, phone or address of the generated families in any
log line. Exit code 1 when any of those fails.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats

from benchmarks._support import SCHOOL, SCHOOL_DAY, senco, upn
from contracts.envelope import CommandEnvelope
from contracts.identifiers import NeedType
from contracts.people import Channel, PersonToTell
from contracts.register import AddToSenSupport, PupilIdentity, RecordPeopleWithParentalResponsibility
from contracts.subjects import OPERATOR_USER, command_subject, inbox_prefix
from infra.stack.scratch import Sandbox, new_prefix, scratch_servers
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.settings import NotificationsSettings
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.clock import FixedClock
from services.runtime.database import ensure_database
from services.runtime.logging import configure_logging
from services.runtime.service import ServiceRuntime


def family(serial: int) -> tuple[PupilIdentity, PersonToTell]:
    pupil = PupilIdentity(
        upn=upn(serial), given_name=f"Kit{serial}", family_name=f"Ashworth{serial}", date_of_birth=date(2016, 4, 1)
    )
    parent = PersonToTell(
        person_id=uuid4(),
        name=f"Morgan Ashworth{serial}",
        relationship="mother",
        has_parental_responsibility=True,
        email=f"morgan.ashworth{serial}@example.org",
        mobile="07700 900456",
        preferred_channel=Channel.EMAIL,
    )
    return pupil, parent


def envelope(command: Any) -> dict[str, Any]:
    return CommandEnvelope[type(command)](command=command, actor=senco()).model_dump(mode="json")  # type: ignore[misc]


def requests(count: int, rng: random.Random) -> list[tuple[str, bytes, int | None]]:
    """(subject name, body, the pupil serial a valid command is about) in a shuffled mix."""
    out: list[tuple[str, bytes, int | None]] = []
    serial = 0
    while len(out) < count:
        kind = rng.choice(["valid", "valid", "valid", "control", "mutated", "wide", "deep", "garbage"])
        if kind == "valid":
            serial += 1
            pupil, parent = family(serial)
            people = envelope(RecordPeopleWithParentalResponsibility(upn=pupil.upn, people=[parent]))
            add = envelope(
                AddToSenSupport(
                    school_urn=SCHOOL,
                    pupil=pupil,
                    primary_need=NeedType.SLCN,
                    effective_date=date(2026, 11, 20),
                    reason="Two APDR cycles",
                )
            )
            # enrolled and added at once, then the parents: each sent three times with the same id
            out += [("register.add_to_sen_support", json.dumps(add).encode(), serial)] * 3
            out += [("register.record_people_with_parental_responsibility", json.dumps(people).encode(), serial)] * 3
        elif kind == "control":
            body = envelope(
                AddToSenSupport(
                    school_urn=SCHOOL,
                    pupil=family(10_000 + len(out))[0],
                    primary_need=NeedType.ASD,
                    effective_date=date(2026, 11, 20),
                    reason="x",
                )
            )
            body["command"]["pupil"]["family_name"] = rng.choice(["Ash\x00worth", "Ash\x07", "Ash\nworth", "\x1b[31m"])
            out.append(("register.add_to_sen_support", json.dumps(body).encode(), None))
        elif kind == "mutated":
            body = envelope(
                AddToSenSupport(
                    school_urn=SCHOOL,
                    pupil=family(20_000 + len(out))[0],
                    primary_need=NeedType.ASD,
                    effective_date=date(2026, 11, 20),
                    reason="x",
                )
            )
            field = rng.choice(["school_urn", "primary_need", "effective_date", "reason", "pupil"])
            body["command"][field] = rng.choice([None, 12, [], {"x": 1}, "9" * 5000, True])
            if rng.random() < 0.3:
                body.pop("actor")
            out.append(("register.add_to_sen_support", json.dumps(body).encode(), None))
        elif kind == "wide":
            out.append(
                ("register.note_concern", json.dumps({"command": {f"k{i}": i for i in range(20_000)}}).encode(), None)
            )
        elif kind == "deep":
            out.append(("register.change_needs", b"[" * 100_000 + b"]" * 100_000, None))
        else:
            out.append(("notifications.cancel", bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))), None))
    rng.shuffle(out)
    return out[:count]


async def main(count: int, seconds: float, seed: int) -> int:
    logs = io.StringIO()
    configure_logging("hostile", "json", "INFO", file=logs)
    rng = random.Random(seed)
    with scratch_servers("hostile") as (servers, root):
        sandbox = Sandbox(servers, new_prefix())
        await sandbox.open_keyring()  # as a service does at start: the process's keyring
        register_settings = sandbox.settings("register")
        notes_settings = NotificationsSettings.of(
            sandbox.settings("notifications"),
            outbox_dir=root / "outbox",
            delivery_poll_seconds=0.2,
            delivery_backoff_seconds=[0.0],
        )
        for s in (register_settings, notes_settings):
            await ensure_database(s.database_url or "")
        register = ServiceRuntime(register_bootstrap(register_settings, FixedClock(SCHOOL_DAY)))
        notes = ServiceRuntime(notifications_bootstrap(notes_settings, FixedClock(SCHOOL_DAY)))
        await register.start()
        await notes.start()
        nc = await nats.connect(
            sandbox.servers.nats_url, inbox_prefix=inbox_prefix(OPERATOR_USER)
        )  # as the operator (a stand-in for the gateway)
        outcomes: Counter[str] = Counter()
        accepted: dict[int, set[str]] = {}
        unanswered = 0
        try:
            mix = requests(count, rng)
            deadline = time.monotonic() + seconds
            limit = asyncio.Semaphore(16)

            async def send(subject: str, body: bytes, serial: int | None) -> None:
                nonlocal unanswered
                async with limit:
                    if time.monotonic() > deadline:
                        outcomes["not sent (time bound)"] += 1
                        return
                    try:
                        reply = await nc.request(
                            command_subject(register_settings.subject_prefix, subject), body, timeout=20
                        )
                    except Exception:
                        unanswered += 1
                        return
                    answer = json.loads(reply.data)
                    key = answer["outcome"] if answer["outcome"] != "rejected" else f"rejected: {answer['code']}"
                    outcomes[key] += 1
                    if answer["outcome"] == "accepted" and serial is not None:
                        accepted.setdefault(serial, set()).add(subject)

            started = time.monotonic()
            await asyncio.gather(*(send(*r) for r in mix))
            took = time.monotonic() - started
            # let the facts reach notifications and every read model catch up
            for _ in range(300):
                health = [await register.health(), await notes.health()]
                owed = await notes.pool.fetchval("SELECT count(*) FROM notifications_by_pupil")  # type: ignore[union-attr]
                lag = sum(v for h in health for v in h.projection_lag.values())
                if lag == 0 and owed >= len(accepted) * 2:
                    break
                await asyncio.sleep(0.2)
            register_app = register.service.store.app
            facts = await nc.jetstream().stream_info(register_settings.events_stream)
            complete = [s for s, subjects in accepted.items() if len(subjects) == 2]
            events_per_pupil = Counter()
            for serial in complete:
                from services.register.domain.pupil import Pupil

                events_per_pupil[len(list(register_app.events.get(Pupil.create_id(upn(serial)))))] += 1
            owed_rows = await notes.pool.fetch(  # type: ignore[union-attr]
                "SELECT pupil_id, duty, person_id, count(*) AS n FROM notifications_by_pupil "
                "GROUP BY pupil_id, duty, person_id HAVING count(*) > 1"
            )
            personal = [f"Kit{s}" for s in list(accepted)[:50]] + [
                f"morgan.ashworth{s}@example.org" for s in list(accepted)[:50]
            ]
            personal += ["07700 900456", f"Ashworth{next(iter(accepted), 1)}"]
            text = logs.getvalue()
            leaks = [p for p in personal if p in text]
            checks = {
                "every request answered": unanswered == 0,
                "no internal error": not any("internal_error" in k for k in outcomes),
                "each pupil's commands stored once (3 events: enrolled, added, parents)": set(events_per_pupil) <= {3},
                "no notification owed twice": not owed_rows,
                "every read model caught up": all(v == 0 for h in health for v in h.projection_lag.values()),
                "nothing parked": not any(h.parked_events for h in health),
                "no personal data in the logs": not leaks,
            }
        finally:
            await nc.close()
            await notes.stop()
            await register.stop()
    print(f"{count} requests, 16 in flight, in {took:.1f} s ({count / took:,.0f}/s), seed {seed}")
    for outcome, n in sorted(outcomes.items()):
        print(f"  {outcome:<32}{n:>7}")
    print(f"  {'unanswered':<32}{unanswered:>7}")
    print(
        f"pupils with all commands accepted: {len(complete)}; events per pupil: {dict(events_per_pupil)}; "
        f"stream messages: {facts.state.messages}"
    )
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if leaks:
        print(f"  personal data found in logs: {leaks[:5]}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="how many requests to send (default 2000)")
    parser.add_argument("--seconds", type=float, default=120.0, help="stop sending after this long (default 120)")
    parser.add_argument("--seed", type=int, default=20261124, help="the mix's random seed")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.requests, args.seconds, args.seed)))
