"""Old stored events, read back with today's classes: the checks shared by the in-memory and PostgreSQL tests.

The fixture (tests/fixtures/stored_events_2026_11.json, made by tests/fixtures/make_stored_events.py before the
2026-11 module moves) holds every stored event of the register and notifications applications with the class
topics of that time. These checks insert them, as they are, into a fresh event store and read them back the
ways the services do: aggregates through the repository (which resolves each event's topic and the created
event's `originator_topic`), each aggregate's stream through `app.events`, and the application log through
the recorder and the notification log (as the relay and the projections replay it), with the stored actor
metadata and the translation to integration events.

When a class moves, its old topic must be registered (eventsourcing.utils.register_topic) for these to pass.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from contracts.envelope import Actor, derived_id
from services.notifications.application import Notifications
from services.notifications.translation import translate as notifications_translate
from services.register.application import Register
from services.register.translation import translate as register_translate
from services.runtime.aggregate import event_metadata
from tests.support.factories import auditor
from tests.support.inmemory import as_actor

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stored_events_2026_11.json"
APPLICATIONS = {"register": Register, "notifications": Notifications}
TRANSLATORS = {"register": register_translate, "notifications": notifications_translate}
READ_AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@cache
def fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def rows(name: str) -> list[dict[str, Any]]:
    return fixture()["applications"][name]


def expected(name: str) -> dict[str, Any]:
    return fixture()["expected"][name]


def state_bytes(row: dict[str, Any]) -> bytes:
    if row["state_encoding"] == "utf-8-json":
        return row["state"].encode("utf-8")
    assert row["state_encoding"] == "base64", row["state_encoding"]
    return base64.b64decode(row["state"])


def stored_events(name: str) -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=UUID(r["originator_id"]),
            originator_version=r["originator_version"],
            topic=r["topic"],
            state=state_bytes(r),
        )
        for r in rows(name)
    ]


def insert_fixture(app: Any, name: str) -> None:
    """Every stored event of the fixture, as stored then, in the order it was recorded (one transaction)."""
    assert (app.recorder.max_notification_id() or 0) == 0, "the event store must be fresh"
    ids = app.recorder.insert_events(stored_events(name))
    if ids is not None:  # PostgreSQL returns the positions; the in-memory recorder does not
        assert list(ids) == [r["notification_id"] for r in rows(name)]
    assert app.recorder.max_notification_id() == len(rows(name)) == expected(name)["events"]


def event_name(topic: str) -> str:
    return topic.rpartition(".")[2].rpartition(":")[2]


# -- the log ------------------------------------------------------------------------------------------


def check_log_maps_to_domain_events(app: Any, name: str) -> None:
    """Every notification of the log (recorder, notification log, the runtime's reader) becomes a domain
    event of the class its topic named, with its originator, version and stored actor metadata."""
    by_position = {r["notification_id"]: r for r in rows(name)}
    total = len(by_position)
    for notifications in (
        app.recorder.select_notifications(start=1, limit=total + 10),
        app.notifications_after(0, total + 10),  # what the relay and the projections read
        [n for start in range(1, total + 1, 10) for n in app.notification_log.select(start, 10, stop=start + 9)],
    ):
        assert [n.id for n in notifications] == list(by_position)
        for n in notifications:
            row = by_position[n.id]
            assert (str(n.originator_id), n.originator_version, n.topic) == (
                row["originator_id"],
                row["originator_version"],
                row["topic"],
            )
            event = app.mapper.to_domain_event(n)
            assert type(event).__name__ == event_name(row["topic"]), row["topic"]
            assert event.originator_id == UUID(row["originator_id"])
            assert event.originator_version == row["originator_version"]
            assert event.timestamp.tzinfo is not None
            meta = event_metadata(event)
            Actor.model_validate(meta["actor"])
            assert UUID(meta["correlation_id"])
    # What each service publishes from its log (the relay replaying the old log from the start).
    translate = TRANSLATORS[name]
    published = [translate(app.mapper.to_domain_event(n), n.id) for n in app.notifications_after(0, total + 10)]
    # Since the 2026-11 hardening the register also publishes who is to be told when they are recorded: the
    # old log gives those as well, and otherwise exactly what it gave then.
    newly = {"register.people_to_tell_recorded"}
    types = [e.type for e in published if e is not None]
    assert [t for t in types if t not in newly] == expected(name)["published"]
    if name == "register":
        assert types.count("register.people_to_tell_recorded") == expected(name)["events_per_topic"].get(
            "services.register.domain.pupil:Pupil.PeopleWithParentalResponsibilityRecorded", 0
        )
    counted = Counter(r["topic"] for r in rows(name))
    assert dict(counted) == expected(name)["events_per_topic"]


def check_streams(app: Any, name: str) -> None:
    """Each aggregate's own stream, through app.events (as the register's pupil history reads it)."""
    per_aggregate = expected(name)["events_per_aggregate"]
    for originator_id, count in per_aggregate.items():
        events = list(app.events.get(UUID(originator_id)))
        assert len(events) == count
        assert [e.originator_version for e in events] == list(range(1, count + 1))
        created = events[0]
        # The created event names the aggregate's class: that topic must resolve too.
        assert created.originator_topic in expected(name)["aggregate_topics"]


# -- the aggregates -----------------------------------------------------------------------------------


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _value(v: Any) -> Any:
    return v.value if v is not None and hasattr(v, "value") else v


def check_register(app: Register) -> None:
    want = expected("register")
    assert len(want["pupils"]) + len(want["roll_imports"]) == want["aggregates"]
    for upn, facts in want["pupils"].items():
        pupil = app.repository.get(UUID(facts["pupil_id"]))
        # Keyed as pupils were before the keyed blind index (docs/audit.md): ids from the UPN alone. A record from
        # then is found by its id; every record made since is keyed by the blind index (Pupil.create_id).
        assert pupil.id == derived_id("pupil", upn)
        got = {
            "upn": pupil.upn,
            "given_name": pupil.given_name,
            "family_name": pupil.family_name,
            "date_of_birth": _iso(pupil.date_of_birth),
            "school_urn": pupil.school_urn,
            "year_group": pupil.year_group,
            "on_roll_from": _iso(pupil.on_roll_from),
            "status": _value(pupil.status),
            "primary_need": _value(pupil.primary_need),
            "secondary_need": _value(pupil.secondary_need),
            "on_monitoring_list": pupil.on_monitoring_list,
            "removed_on": _iso(pupil.removed_on),
            "last_change_on": _iso(pupil.last_change_on),
            "people_count": len(pupil.people),
            "people_to_tell": sorted(p["name"] for p in pupil.people_to_tell()),
            "looked_after": pupil.looked_after,
            "pep_reference": pupil.pep_reference,
            "protected_address_held": pupil.protected_address is not None,
            "eal": pupil.eal,
            "medical_needs": pupil.medical_needs,
            "healthcare_plan_reference": pupil.healthcare_plan_reference,
            "consent": {k: _iso(v) for k, v in pupil.consent.items()} if pupil.consent else None,
            "ehc_plans": list(pupil.ehc_plans),
            "transferred_from": pupil.transferred_from,
            "awaiting_acknowledgement": pupil.awaiting_acknowledgement,
            "version": pupil.version,
            "events": [type(e).__name__ for e in app.events.get(pupil.id)],
        }
        assert got == {k: v for k, v in facts.items() if k not in ("pupil_id", "history")}, upn
        # The pupil's status history, read from the old events and their stored actors by the query.
        from services.register.projections.pupil_history import status_history_of

        history_read = status_history_of(app.events.get(pupil.id))  # as GetPupil folds it (pupil_view)
        history = [
            {
                "status": _value(h.status),
                "effective_date": _iso(h.effective_date),
                "primary_need": _value(h.primary_need),
                "secondary_need": _value(h.secondary_need),
                "by_role": h.by_role,
                "by_user": h.by_user,
                "recorded_at": h.recorded_at.isoformat(),
            }
            for h in history_read
        ]
        assert history == facts["history"], upn
    for facts in want["roll_imports"]:
        record = app.repository.get(UUID(facts["import_id"]))
        assert (record.school_urn, record.file_name, _iso(record.on_roll_from), record.version) == (
            facts["school_urn"],
            facts["file_name"],
            facts["on_roll_from"],
            facts["version"],
        )
        report = as_actor(Actor.service("register"), READ_AT, app.roll_import, import_id=record.id)
        assert (report.rows, report.enrolled, report.updated, report.unchanged) == (
            facts["rows"],
            facts["enrolled"],
            facts["updated"],
            facts["unchanged"],
        )
        assert [{"row": r.row, "field": r.field} for r in report.rejected] == facts["rejected"]
        assert [type(e).__name__ for e in app.events.get(record.id)] == facts["events"]


def check_notifications(app: Notifications) -> None:
    want = expected("notifications")
    assert len(want["notifications"]) == want["aggregates"]
    for facts in want["notifications"]:
        # repository.get, not app.notification: that turns any error (an unresolvable topic too) into NotFound.
        n = app.repository.get(UUID(facts["notification_id"]))
        got = {
            "notification_id": str(n.id),
            "duty": n.duty,
            "status": n.status,
            "channel": n.channel,
            "pupil_id": str(n.pupil_id),
            "case_id": str(n.case_id) if n.case_id else None,
            "school_urn": n.school_urn,
            "person_id": str(n.person_id) if n.person_id else None,
            "recipients": n.recipients,
            "about": n.about,
            "owed_since": _iso(n.owed_since),
            "cause_event_type": n.cause_event_type,
            "attempts": dict(n.attempts),
            "unreachable": list(n.unreachable),
            "retry_at": n.retry_at.isoformat() if n.retry_at else None,
            "provider_reference": n.provider_reference,
            "content_hash": n.content_hash,
            "subject": n.content["subject"] if n.content else None,
            "reason": n.reason,
            "version": n.version,
            "events": [type(e).__name__ for e in app.events.get(n.id)],
        }
        assert got == facts, facts["notification_id"]
        assert app.notification(n.id).status == facts["status"]  # as the delivery worker loads it
        check_notification_audit(app, n)


def check_notification_audit(app: Notifications, n: Any) -> None:
    """The audit of a notification stored before the sent bytes and receipts were recorded (2026-12): every
    step with its stored actor, the content hash still matching the stored content, and the hashes and
    receipts of that time shown as not recorded (None), never guessed."""
    audit = app.audit_notification(n.id, auditor())
    events = list(app.events.get(n.id))
    assert [s.position for s in audit.steps] == list(range(1, len(events) + 1))
    assert all(s.by_user and s.by_role and s.at.tzinfo is not None for s in audit.steps)
    assert audit.status == n.status and audit.content_hash == n.content_hash
    assert audit.content_hash_recomputed == n.content_hash  # None for one never written
    started = [e for e in events if type(e).__name__ == "SendingStarted"]
    assert [(a.channel, a.attempt) for a in audit.attempts] == [(e.channel, e.attempt) for e in started]
    for attempt in audit.attempts:
        assert (attempt.sent_sha256, attempt.sent_size, attempt.sent_as, attempt.receipt) == (None, None, None, None)


# -- what the scenario left, stated here too (not only in the fixture's own expected section) ----------

PUPIL_STATUSES = {  # UPN -> (census status, primary need, school)
    "X801200000001": ("E", "ASD", "123456"),  # SEN support, needs changed, EHC plan finalised
    "L801200000002": ("N", None, "123456"),  # SEN support, then removed
    "A801200000003": ("N", None, "123456"),  # a concern noted, EAL: not SEN
    "P801200000004": ("K", "SEMH", "654321"),  # looked after, transferred and acknowledged
    "D801200000005": ("K", "SPLD", "123456"),  # EHC plan finalised then ceased to SEN support
    "T801200000006": ("N", None, "123456"),  # EHC plan finalised then ceased off the register
    "G801200000007": ("N", None, "123456"),  # enrolled by the second roll import
}
NOTIFICATION_STATUSES = {
    "delivered": 2,
    "failed": 1,
    "retry_due": 1,
    "cancelled": 1,
    "sent": 1,
    "rendered": 2,
    "cannot_notify": 6,
}


def check_known_outcomes(app: Any, name: str) -> None:
    if name == "register":
        found = {}
        for upn in PUPIL_STATUSES:
            p = app.repository.get(derived_id("pupil", upn))  # keyed as before the blind index
            found[upn] = (_value(p.status), _value(p.primary_need), p.school_urn)
        assert found == PUPIL_STATUSES
        assert app.repository.get(derived_id("pupil", "P801200000004")).protected_address is not None
    else:
        statuses = Counter(
            app.repository.get(UUID(n["notification_id"])).status for n in expected("notifications")["notifications"]
        )
        assert statuses == NOTIFICATION_STATUSES


def check_everything(app: Any, name: str) -> None:
    check_log_maps_to_domain_events(app, name)
    check_streams(app, name)
    (check_register if name == "register" else check_notifications)(app)
    check_known_outcomes(app, name)
