"""Every request gets an answer that fits in one NATS message: a reply that would not is a Rejected saying so
(never silence, which NATS would otherwise leave the caller with), the client's page helper asks again with
smaller pages, and the notifications lists come a page at a time in the order they were owed."""

import types
from datetime import UTC, date, datetime
from uuid import uuid4

from faststream.nats import NatsBroker

from contracts.envelope import Actor, Answered, Query, Rejected, Role, View
from contracts.notifications import Duty
from services.notifications.projections import TABLE, NotificationsByPupil
from services.notifications.queries import _position_after, failed_to_reach, undelivered
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.database import create_pool, ensure_database
from services.runtime.endpoints import MAX_REPLY_BYTES, router_for
from services.runtime.errors import DomainError
from services.runtime.routes import Routes
from tests.support.stack import Sandbox, as_operator

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
OFFICER = Actor(user_id="data@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")


class Blob(View):
    text: str
    next_after: str | None = None


class BigAnswer(Query):
    SUBJECT = "register.big_answer"  # answered, below, as the register's NATS user answers its queries
    Result = Blob

    page_size: int = 8  # each item 200 kB: 8 of them do not fit in one message, 4 do


class BlobReader:
    async def big_answer(self, *, page_size: int) -> Blob:
        return Blob(text="x" * (page_size * 200_000))


async def test_a_reply_too_large_for_one_message_is_a_clear_rejection_and_pages_shrink_to_fit(sandbox: Sandbox) -> None:
    settings = sandbox.settings("register")
    bound = Routes(queries={BigAnswer: BlobReader.big_answer}).bind(types.SimpleNamespace(app=object()), BlobReader())
    broker = NatsBroker(settings.nats_url)
    broker.include_router(router_for("register", settings.subject_prefix, bound, FixedClock(NOW)))
    await broker.start()
    try:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, OFFICER, retries=0) as client:
            refused = await client.query(BigAnswer())
            assert isinstance(refused, Rejected) and refused.rule == "reply_too_large", refused
            assert "1,600," in refused.message and f"{MAX_REPLY_BYTES:,}" in refused.message
            assert "smaller page_size" in refused.message
            fits = [reply async for reply in client.pages(BigAnswer())]
            assert len(fits) == 1 and isinstance(fits[0], Answered) and len(fits[0].result.text) == 800_000
    finally:
        await broker.stop()


async def test_the_notifications_lists_come_a_page_at_a_time_in_the_order_owed(sandbox: Sandbox) -> None:
    url = sandbox.database_url("notification_pages")
    await ensure_database(url)
    pool = await create_pool(url)
    try:
        async with pool.acquire() as conn:
            await NotificationsByPupil().setup(conn)
            await conn.executemany(
                f"""INSERT INTO {TABLE} (notification_id, pupil_id, school_urn, duty, status, unreachable_channels,
                        cause_event_id, cause_event_type, owed_since, recorded_at, updated_at, log_position)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, 'register.pupil_added_to_sen_support', $8, $9, $9, $10)""",
                [
                    (
                        uuid4(),
                        uuid4(),
                        "123456" if n % 3 else "654321",
                        Duty.SEN_PROVISION_STARTED.value,
                        ("rendered", "cannot_notify", "delivered", "failed")[n % 4],
                        ["email"] if n % 5 == 0 else [],
                        uuid4(),
                        date(2026, 11, 2),
                        NOW,
                        10 * n,  # positions with gaps, as in a real log
                    )
                    for n in range(1, 101)
                ],
            )
        for read in (undelivered, failed_to_reach):
            for school in ("123456", None):
                whole = await read(pool, school)
                assert whole.next_after is None and len(whole.notifications) > 10
                pages, after = [], 0
                while True:
                    page = await read(pool, school, page_size=7, after=after)
                    pages.append(page)
                    if page.next_after is None:
                        break
                    after = _position_after(page.next_after)
                joined = [n for page in pages for n in page.notifications]
                assert joined == whole.notifications  # each once, in the order owed
                assert all(len(page.notifications) == 7 for page in pages[:-1])
        try:
            _position_after("e30")
        except DomainError as e:
            assert e.rule == "invalid_cursor"
        else:
            raise AssertionError("a cursor without a position was taken")
    finally:
        await pool.close()
