"""Paged queries on real PostgreSQL and NATS: every entry exactly once, in a stable order, however small the
pages; a page size over the bound and a cursor from elsewhere refused in words; the date a register is read
as at pinned by the first page."""

import math
from datetime import UTC, date, datetime

import pytest

from contracts.envelope import Accepted, Actor, Answered, Rejected, RejectionCode, Role
from contracts.identifiers import NeedType
from contracts.register import CensusExtract, ImportRoll, SchoolRegister
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.pupil import Pupil
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.context import CommandContext, reset_context, set_context
from tests.support.factories import OTHER_SCHOOL, SCHOOL, senco, upn
from tests.support.register_factories import ROLL_DAY, roll_csv
from tests.support.stack import Sandbox, as_operator, eventually, running_service

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
DATA_OFFICER = Actor(user_id="data@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")
AS_AT = date(2026, 11, 20)


def put_on_sen_support(app, urn: str, serials: list[int], removed: set[int] = frozenset()) -> None:
    """As the school's SENCO would, in one save: K from dates in the autumn term; some removed again."""
    pupils = app.get_many([Pupil.create_id(upn(s)) for s in serials])
    token = set_context(CommandContext(actor=senco(urn), now=NOW))
    try:
        for n, serial in enumerate(serials):
            pupil = pupils[Pupil.create_id(upn(serial))]
            pupil.add_to_sen_support(
                actor=senco(urn),
                today=NOW.date(),
                primary_need=list(NeedType)[n % len(NeedType)],
                secondary_need=None,
                effective_date=date(2026, 9, 10 + n % 20),
                reason="APDR review",
                evidence_reference=None,
            )
            if serial in removed:
                pupil.remove_from_sen_register(
                    actor=senco(urn),
                    today=NOW.date(),
                    effective_date=date(2026, 11, 2),
                    reason="targets met",
                    evidence_reference=None,
                )
        app.save(*pupils.values())
    finally:
        reset_context(token)


@pytest.fixture
async def la(sandbox: Sandbox):
    """Two schools: 80 and 60 pupils on roll, 30 of them on SEN support, a few removed since (shown as N)."""
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(NOW)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, DATA_OFFICER) as client:
            for urn, serials in ((SCHOOL, range(1, 81)), (OTHER_SCHOOL, range(101, 161))):
                command = ImportRoll(
                    school_urn=urn, file_name="r.csv", csv_text=roll_csv(serials), on_roll_from=ROLL_DAY
                )
                assert isinstance(await client.command(command, actor=senco(urn)), Accepted)
            app = runtime.service.store.app
            put_on_sen_support(app, SCHOOL, list(range(1, 81, 4)), removed={5, 9})
            put_on_sen_support(app, OTHER_SCHOOL, list(range(101, 161, 6)), removed={107})
            last = app.max_notification_id()

            async def caught_up():
                return all(r.position >= last for r in runtime.projections)

            await eventually(caught_up, what="the read models")
            yield client


async def every_page(client: Client, query) -> list:
    pages = []
    async for reply in client.pages(query):
        assert isinstance(reply, Answered), reply
        pages.append(reply.result)
    return pages


@pytest.mark.parametrize("school", [SCHOOL, OTHER_SCHOOL, None], ids=["one school", "another", "whole LA"])
async def test_pages_hold_every_entry_once_in_order(la: Client, school) -> None:
    whole = await la.query(SchoolRegister(school_urn=school, as_at=AS_AT, page_size=2000))
    assert isinstance(whole, Answered) and whole.result.next_after is None
    entries = whole.result.entries
    assert len(entries) in (20, 10, 30)
    assert [e.status for e in entries].count("N") == {SCHOOL: 2, OTHER_SCHOOL: 1, None: 3}[school]
    for size in (1, 3, 7):
        pages = await every_page(la, SchoolRegister(school_urn=school, as_at=AS_AT, page_size=size))
        assert [e for page in pages for e in page.entries] == entries  # every one, once, in the same order
        assert all(len(page.entries) == size for page in pages[:-1]) and len(pages) in (
            math.ceil(len(entries) / size),
            len(entries) // size + 1,  # when the last full page could not know it was the last
        )
        assert {(page.roll, page.as_at, page.school_urn) for page in pages} == {(whole.result.roll, AS_AT, school)}
        assert [p.next_after is None for p in pages] == [False] * (len(pages) - 1) + [True]
    keys = [(e.family_name, e.given_name, e.upn) for e in entries]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


async def test_the_census_extract_pages_join_into_the_whole_file(la: Client) -> None:
    whole = await la.query(CensusExtract(census_date=date(2027, 1, 21), page_size=5000))
    assert isinstance(whole, Answered) and whole.result.csv.count("\n") == 1 + 140
    pages = await every_page(la, CensusExtract(census_date=date(2027, 1, 21), page_size=9))
    assert "".join(page.csv for page in pages) == whole.result.csv and len(pages) == math.ceil(140 / 9)
    assert pages[0].csv.startswith("URN,UPN,") and not pages[1].csv.startswith("URN,UPN,")


async def test_the_first_page_pins_the_day_and_a_foreign_cursor_is_refused(la: Client) -> None:
    first = await la.query(SchoolRegister(school_urn=SCHOOL, page_size=4))
    assert isinstance(first, Answered) and first.result.as_at == NOW.date() and first.result.next_after
    second = await la.query(SchoolRegister(school_urn=SCHOOL, page_size=4, after=first.result.next_after))
    assert isinstance(second, Answered) and second.result.as_at == NOW.date()
    moved = await la.query(SchoolRegister(school_urn=SCHOOL, as_at=AS_AT, page_size=4, after=first.result.next_after))
    assert isinstance(moved, Rejected) and moved.rule == "invalid_cursor" and str(NOW.date()) in moved.message
    for after in ("bm90LWEtY3Vyc29y", "e30"):  # "not-a-cursor", "{}"
        refused = await la.query(SchoolRegister(school_urn=SCHOOL, after=after))
        assert isinstance(refused, Rejected) and refused.rule == "invalid_cursor", refused
        assert refused.field_errors[0].field == "query.after"
    census = await la.query(CensusExtract(census_date=date(2026, 10, 1), page_size=5))
    other_day = await la.query(CensusExtract(census_date=date(2027, 1, 21), after=census.result.next_after))
    assert isinstance(other_day, Rejected) and other_day.rule == "invalid_cursor"


async def test_a_page_size_over_the_bound_is_refused_in_words(la: Client) -> None:
    for query in (
        SchoolRegister.model_construct(school_urn=SCHOOL, as_at=AS_AT, page_size=2001, after=None),
        SchoolRegister.model_construct(school_urn=SCHOOL, as_at=AS_AT, page_size=0, after=None),
        CensusExtract.model_construct(census_date=AS_AT, school_urn=None, page_size=5001, after=None),
    ):
        refused = await la.query(query)
        assert isinstance(refused, Rejected) and refused.code is RejectionCode.INVALID, refused
        assert refused.field_errors[0].field == "query.page_size"
        assert "less than or equal to" in refused.message or "greater than or equal to" in refused.message
    with pytest.raises(ValueError, match="less than or equal to 2000"):  # the contract says so to a client too
        SchoolRegister(page_size=2001)
