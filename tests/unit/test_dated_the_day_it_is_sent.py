"""A message states the date it is sent (a right to respond or appeal runs from it): written one day and sent on a
later one (a retry, another channel, a service down overnight), it is written again, dated that day, before it goes;
the record keeps both writings, and the content hash always matches what is stored."""

from __future__ import annotations

from datetime import timedelta

from services.notifications.application import Notifications
from services.notifications.content import content_hash
from services.notifications.domain.notification import Notification
from services.notifications.letters_config import load_letters_config
from services.notifications.policies import when_duty_to_tell_arises_owe_notifications
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.support.every_letter import DURHAM, MOTHER, SENT_AT, every_statutory_event
from tests.support.factories import caseworker
from tests.support.inmemory import as_actor
from tests.support.register_events import wrap


def owed() -> tuple[Notifications, Notification]:
    app = Notifications(env=IN_MEMORY_ENV)
    app.letters_config = load_letters_config(DURHAM)
    fact = every_statutory_event([MOTHER])["ehcp.plan_finalised"]
    envelope = wrap(fact, "ehcp", 1, fact.pupil_id, None, fact.case_id)
    [n] = as_actor(caseworker(), SENT_AT, when_duty_to_tell_arises_owe_notifications, app, envelope)
    as_actor(caseworker(), SENT_AT, app.save, n)
    return app, n


def test_a_message_sent_the_day_it_was_written_keeps_its_words() -> None:
    app, n = owed()
    first = n.content_hash
    started = as_actor(caseworker(), SENT_AT + timedelta(hours=3), app.start_sending, n.id, "letter")
    assert started.status == "sending" and started.content_hash == first
    assert not any(isinstance(e, Notification.Redated) for e in app.events.get(n.id))


def test_a_message_sent_on_a_later_day_is_dated_that_day_before_it_goes() -> None:
    app, n = owed()
    first, reference = n.content_hash, n.reference
    assert "Date: 25 November 2026" in n.content["letter"]
    started = as_actor(caseworker(), SENT_AT + timedelta(days=2), app.start_sending, n.id, "letter")
    c = started.content
    assert "Date: 27 November 2026" in c["letter"] and "Date: 27 November 2026" in c["body"]
    assert '<time datetime="2026-11-27">27 November 2026</time>' in c["letter_html"]
    assert started.content_hash != first and started.reference == reference  # the same message, quoted the same
    assert started.content_hash == content_hash(c["subject"], c["body"], c["sms"], c["letter"], c["letter_html"])
    # the appeal deadline the LA computed is stated as it was: only the date of the letter moves
    assert "The last day to appeal is Monday 25 January 2027" in c["letter"]
    events = list(app.events.get(n.id))
    assert [type(e).__name__ for e in events][-2:] == ["Redated", "SendingStarted"]
    audit = as_actor(caseworker(), SENT_AT + timedelta(days=2), app.audit_notification, n.id)
    assert audit.content_hash_recomputed == started.content_hash == audit.content_hash
    assert any(s.what == "redated" and "dated 27 November 2026" in s.detail for s in audit.steps)
    assert audit.dated_on is not None and audit.dated_on.isoformat() == "2026-11-27"
    assert audit.reference == reference and audit.sender == "Durham County Council"
    assert audit.needs == "Urdu (ur), with an interpreter; large print"
