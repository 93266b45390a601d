"""Subject access: everything one service holds about a child, collected the same way for every service.

A service holds personal data only in its aggregates' events, and every event of an aggregate that holds any
carries the child it is about (`data_subject`, services/runtime/aggregate.py). So what a service holds about
a child is every stored event of every aggregate that names the child as its data subject: found by one scan
of the service's events table for the child's id (an id is not personal data, and stays readable), decoded
with the service's own mapper (personal values opened with their person's key, "[erased]" once it is gone),
each aggregate folded to the record as it stands. Nothing here knows a service: a service's entrypoints bind
its `SubjectAccess` query (contracts/subject_access.py) to `SendcaseApplication.subject_access`, one line.

What an aggregate never discloses, even to the person it is about, it names in `withheld_from_subject_access`
(a child looked after's protected address; an invitation's one-time code): each such value is "[withheld]" wherever
it occurs, under its own name or quoted in a text (a letter that states the code). How a record is
shown (a record, or a message sent to the family) is its `shown_in_subject_access`.

Read from the event store, not a read model: the store is the whole record (read models are views of parts of
it), and a subject access request is rare enough that a scan of one table is affordable. Paged by log position
(contracts/paging.py): each page re-reads and re-folds what it needs, so no state is kept between pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from contracts.envelope import Actor, Role
from contracts.subject_access import WITHHELD, HeldFact, HeldPage, HeldRecord, SubjectAccess
from services.runtime.errors import NotAuthorised
from services.runtime.keyring import current_keyring
from services.runtime.paging import decode_cursor, encode_cursor, invalid_cursor

# Who may ask a service for everything it holds about a child: the LA's data officer (who answers subject
# access requests) and its auditors. Nobody at a school, and no service.
ASKERS = frozenset({Role.DATA_OFFICER, Role.AUDITOR})
# An event's own bookkeeping, shown apart (position, when, by whom) or not at all.
NOT_DETAILS = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "meta", "data_subject"}
)
IN_MEMORY_PAGE = 10_000


def check_may_ask(actor: Actor) -> None:
    if actor.role not in ASKERS or not actor.organisation.startswith("la:"):
        raise NotAuthorised(
            "Only the local authority's data officer or an auditor can see everything held about a child "
            f"(a subject access request); you are signed in as {actor.role.value} for {actor.organisation}."
        )


@dataclass
class _Held:
    """One aggregate about the child: its events in log order, and the aggregate they fold to."""

    record_id: UUID
    events: list[tuple[int, Any]] = field(default_factory=list)
    aggregate: Any = None
    quoted: list[str] = field(default_factory=list)  # withheld values, to withhold where a text quotes them


def subject_access(self: Any, *, pupil_id: UUID, page_size: int, after: str | None, actor: Actor) -> HeldPage:
    """Everything this service holds about a child: one page of its facts, in log order, and each record whose
    last fact is on the page, as it stands. `self`: the service's SendcaseApplication (this is its method)."""
    check_may_ask(actor)
    start = _position_after(after)
    held = held_about(self, pupil_id)
    facts: list[tuple[int, Any, _Held]] = sorted(
        ((position, event, h) for h in held for position, event in h.events if position > start),
        key=lambda f: f[0],
    )
    page, more = facts[:page_size], len(facts) > page_size
    last = page[-1][0] if page else start
    records = [_record(h) for h in held if h.events and start < h.events[-1][0] <= last]
    return HeldPage(
        service=self.name,
        pupil_id=pupil_id,
        erased=bool(current_keyring().erased([pupil_id])),
        records=records,
        facts=[_fact(position, event, h) for position, event, h in page],
        next_after=encode_cursor(position=last) if more else None,
    )


def _position_after(after: str | None) -> int:
    found = decode_cursor(after, keys=("position",))
    if found is None:
        return 0
    if not isinstance(found["position"], int) or found["position"] < 0:
        raise invalid_cursor()
    return found["position"]


def held_about(app: Any, pupil_id: UUID) -> list[_Held]:
    """Every aggregate of the service that names the child as its data subject, each with all its events (in
    log order) and folded to how it stands now."""
    rows = _rows_mentioning(app, pupil_id)
    decoded = app.mapper.to_domain_events([StoredEvent(oid, v, t, s) for _, oid, v, t, s in rows])
    by_record: dict[UUID, _Held] = {}
    for (position, originator_id, *_), event in zip(rows, decoded, strict=True):
        h = by_record.setdefault(originator_id, _Held(originator_id))
        h.events.append((position, event))
    held = []
    for h in by_record.values():
        if not any(vars(e).get("data_subject") == pupil_id for _, e in h.events):
            continue  # it only mentions the child's id (e.g. a list of ids): nothing held about them
        h.events.sort(key=lambda pe: pe[0])
        aggregate = None
        for _, event in h.events:
            aggregate = event.mutate(aggregate)
        h.aggregate = aggregate
        h.quoted = _withheld_values([aggregate, *(e for _, e in h.events)], _withheld(aggregate))
        held.append(h)
    return held


def _rows_mentioning(app: Any, pupil_id: UUID) -> list[tuple[int, UUID, int, str, bytes]]:
    """(position, originator id, version, topic, state) of every event of every aggregate one of whose events
    holds the child's id anywhere (then checked exactly, once decoded)."""
    recorder = app.recorder
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:  # the in-memory store (unit tests): every event, read through the log
        rows: list[tuple[int, UUID, int, str, bytes]] = []
        position = 0
        while True:
            page = recorder.select_notifications(start=position + 1, limit=IN_MEMORY_PAGE)
            rows.extend((n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in page)
            if len(page) < IN_MEMORY_PAGE:
                break
            position = page[-1].id
        mentioned = {oid for _, oid, _, _, state in rows if pupil_id.hex.encode() in state}
        return [r for r in rows if r[1] in mentioned]
    table = SQL("{0}.{1}").format(Identifier(datastore.schema), Identifier(recorder.events_table_name))
    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {0} "
        "WHERE originator_id IN (SELECT DISTINCT originator_id FROM {0} "
        "                        WHERE position(%s::bytea IN state) > 0 OR position(%s::bytea IN state) > 0) "
        "ORDER BY notification_id"
    ).format(table)
    # an id is stored as hex in the library's own encoding, or as text where a dict holds it as a string
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(statement, (pupil_id.hex.encode(), str(pupil_id).encode()))
        return [(p, oid, v, t, bytes(s)) for p, oid, v, t, s in curs.fetchall()]


def _fact(position: int, event: Any, held: _Held) -> HeldFact:
    state = vars(event)
    actor = (state.get("meta") or {}).get("actor") or {}
    withheld = _withheld(held.aggregate)
    quoted = held.quoted
    return HeldFact(
        position=position,
        recorded_at=event.timestamp,
        record_id=held.record_id,
        record_kind=type(held.aggregate).__name__,
        what=type(event).__name__,
        by_user=actor.get("user_id"),
        by_role=actor.get("role"),
        by_organisation=actor.get("organisation"),
        details={k: plain(v, withheld, k, quoted) for k, v in state.items() if k not in NOT_DETAILS},
    )


def _record(held: _Held) -> HeldRecord:
    aggregate = held.aggregate
    withheld = _withheld(aggregate)
    quoted = held.quoted
    state = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    return HeldRecord(
        record_id=held.record_id,
        record_kind=type(aggregate).__name__,
        shown_as=getattr(aggregate, "shown_in_subject_access", "record"),
        first_recorded_at=held.events[0][1].timestamp,
        last_changed_at=held.events[-1][1].timestamp,
        as_it_stands={k: plain(v, withheld, k, quoted) for k, v in state.items()},
    )


def _withheld(aggregate: Any) -> frozenset[str]:
    return frozenset(getattr(aggregate, "withheld_from_subject_access", ()))


def plain(value: Any, withheld: Iterable[str] = (), key: str | None = None, quoted: Iterable[str] = ()) -> Any:
    """A stored value as plain JSON-ready data, with every value under a withheld field name "[withheld]", and every
    text quoting one of `quoted` (the withheld values themselves) with it replaced by "[withheld]"."""
    if key is not None and key in withheld and value is not None:
        return WITHHELD
    if isinstance(value, dict):
        return {str(k): plain(v, withheld, str(k), quoted) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, withheld, None, quoted) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        for secret in quoted:
            value = value.replace(secret, WITHHELD)
        return value
    if isinstance(value, (int, float, bool, UUID, date, datetime)) or value is None:
        return value
    return str(value)


def _withheld_values(sources: Iterable[Any], withheld: frozenset[str]) -> list[str]:
    """The texts held under a withheld field name anywhere in these (an aggregate, its events): to be withheld also
    where a text quotes them. Only texts of some length (a short one would match by chance)."""
    if not withheld:
        return []
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in withheld and isinstance(v, str) and len(v) >= 6:
                    found.add(v)
                else:
                    walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    for source in sources:
        if source is not None:
            walk({k: v for k, v in vars(source).items() if k != "meta"})
    return sorted(found, key=len, reverse=True)


def check_declared(app: Any, routes: Iterable[Any]) -> None:
    """A service that holds personal data answers subject access (checked at start, so a new service cannot
    forget): its contracts declare a SubjectAccess query and its entrypoints bind it to `subject_access`."""
    from services.runtime.routes import RouteError

    if not getattr(app, "personal_fields", None):
        return
    if not any(issubclass(r.message, SubjectAccess) and r.function.__name__ == "subject_access" for r in routes):
        raise RouteError(
            f"{type(app).__name__} holds personal data but answers no subject access query: declare "
            f"`class {type(app).__name__}SubjectAccess(SubjectAccess)` in its contracts' queries.py and bind it in "
            f"its entrypoints' ROUTES to {type(app).__name__}.subject_access (docs/audit.md, 'Subject access')"
        )
