"""What `sendcase recover` says, and which consumers' subjects it counts (the recovery itself runs against real
servers: tests/integration/test_backup_and_restore.py)."""

from __future__ import annotations

from pathlib import Path

from services.runtime.recovery import LostFact, Recovery, subject_matches


def recovery(**changes: object) -> Recovery:
    values: dict = dict(
        service="register",
        stream="SENDCASE_EVENTS",
        database="sendcase_register",
        stream_head=18,
        database_max=9,
        sequence="public.register_events_notification_id_seq",
        next_id_before=10,
        next_id_after=19,
        relay_before=9,
        relay_after=18,
        lost=[
            LostFact(11, "register.pupil_added_to_sen_support", 7, None, {"payload": {"upn": "X"}}),
            LostFact(12, "register.people_to_tell_recorded", 8, None, {"payload": {"upn": "X"}}),
        ],
        consumers_reset={"register-ehc-plans": 0},
        report_file=Path("/secure/recovery-register-20261123T103000Z.json"),
    )
    values.update(changes)
    return Recovery(**values)


def test_subjects_match_as_nats_matches_them() -> None:
    assert subject_matches("p.events.register.*", "p.events.register.pupil_added")
    assert not subject_matches("p.events.register.*", "p.events.register.a.b")
    assert subject_matches("p.events.>", "p.events.register.a.b")
    assert not subject_matches("p.events.>", "p.events")
    assert subject_matches("p.events.ehcp.plan_finalised", "p.events.ehcp.plan_finalised")
    assert not subject_matches("p.events.ehcp.plan_finalised", "p.events.ehcp.plan_ceased")


def test_the_report_gives_ids_counts_and_where_the_list_is_never_the_facts() -> None:
    text = "\n".join(recovery().lines())
    assert "LOST WITH THE RESTORE: 2 fact(s) of register" in text and "ids 11 to 12" in text
    assert "register.people_to_tell_recorded x1, register.pupil_added_to_sen_support x1" in text
    assert "/secure/recovery-register-20261123T103000Z.json" in text
    assert "from id 19 (was 10: sequence public.register_events_notification_id_seq moved" in text
    assert "resume after register:18 (its position was 9)" in text
    assert "upn" not in text and "X" not in text.replace("x1", "")  # no personal data on the screen
    summary = recovery().summary()
    assert summary["lost_count"] == 2 and summary["lost_first"] == 11 and summary["lost_last"] == 12
    assert "lost" not in summary


def test_nothing_lost_a_dry_run_and_a_database_ahead_of_the_stream_are_said_plainly() -> None:
    calm = recovery(
        stream_head=9, database_max=12, next_id_after=13, next_id_before=13, relay_after=9, lost=[], report_file=None
    )
    text = "\n".join(calm.lines())
    assert "Nothing lost" in text and "ahead of the stream by 3 id(s)" in text and "moved" not in text
    dry = "\n".join(recovery(dry_run=True, report_file=None).lines())
    assert "Run without --dry-run to write the list to a file." in dry and dry.endswith("Dry run: nothing was changed.")
    assert "would replay" in dry and "The relay would resume after register:18" in dry
    assert "New events would be stored from id 19" in dry
