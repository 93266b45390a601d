"""Every message a family or professional is sent, read as they would read it: dated the day it is sent, from the school
or the LA with a way to reach them, with a reference to quote, pointing to SENDIASS (and to disagreement resolution and
mediation where a decision can be disagreed with), never holding a protected address, with every name printed as it
is written (Łukasz, عائشہ خان, 王伟); to a young person, speaking to them; as an email or text, at the LA's content
level; and the letter's HTML saying the same words as its text (tests/support/every_letter.py renders them all)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from contracts.notifications.reference import SHAPE, normalised_reference, short_reference
from contracts.people import Channel
from services.notifications.content import DISAGREEMENT, MEDIATION, SENDIASS
from services.notifications.domain.notification import ONE_TIME_CODE
from tests.support.every_letter import (
    CHILD,
    CHILD_GIVEN,
    FATHER,
    ILLUSTRATION_929,
    MOTHER,
    PARENTS,
    PROTECTED_WORDS,
    SENT_ON,
    SENT_ON_IN_WORDS,
    YOUNG_PERSON,
    RenderedMessage,
    config,
    every_template_rendered,
)

DURHAM_MESSAGES = every_template_rendered()
YOUNG_PERSON_MESSAGES = every_template_rendered([YOUNG_PERSON])
NOTICE_ONLY_MESSAGES = every_template_rendered(
    [*PARENTS, YOUNG_PERSON], letters=config(ILLUSTRATION_929), school_urn="122999"
)
ALL = DURHAM_MESSAGES + YOUNG_PERSON_MESSAGES + NOTICE_ONLY_MESSAGES
FOR_PROFESSIONALS = {"ehc_advice_requested", "professional_notice"}  # the rest are to the family
NOT_STATUTORY = {"access_invitation"}  # an invitation to see the record: no decision, nothing to signpost


def named(m: RenderedMessage) -> str:
    return f"{m.duty} to {m.recipient['name']}" + (" (the complete letter)" if m.companion_of else "")


def html_text(html: str) -> str:
    """The words a reader sees in the HTML letter's body, in order."""

    class Words(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.words: list[str] = []
            self.in_body = False

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.in_body = self.in_body or tag == "body"

        def handle_data(self, data: str) -> None:
            if self.in_body:
                self.words.append(data)

    parser = Words()
    parser.feed(html)
    return " ".join("".join(parser.words).split())


def words(text: str) -> str:
    """A text letter's words in order (a list item's "- " is the HTML's <li>)."""
    return " ".join(re.sub(r"^- ", "", line.strip()) for line in text.splitlines() if line.strip())


def test_every_template_is_rendered_for_every_recipient() -> None:
    duties = {m.duty for m in DURHAM_MESSAGES}
    assert len(duties) == 16  # each statutory event's duty and the professional notice
    for m in DURHAM_MESSAGES:
        assert m.subject and m.body and m.sms and m.letter and m.letter_html, named(m)


@pytest.mark.parametrize("m", ALL, ids=named)
def test_every_letter_and_email_is_dated_the_day_it_is_sent(m: RenderedMessage) -> None:
    assert m.dated_on == SENT_ON
    assert f"Date: {SENT_ON_IN_WORDS}\n" in m.letter and f"Date: {SENT_ON_IN_WORDS}\n" in m.body
    assert f'<time datetime="{SENT_ON.isoformat()}">{SENT_ON_IN_WORDS}</time>' in m.letter_html


@pytest.mark.parametrize("m", ALL, ids=named)
def test_every_message_says_who_it_is_from_and_how_to_reach_them(m: RenderedMessage) -> None:
    sender, contact = m.sender, m.contact
    assert contact["email"] and contact["phone"]  # a mailbox and a telephone number, always
    for text in (m.letter, m.body, html_text(m.letter_html)):
        assert sender["organisation"] in text
        assert all(line in text for line in sender["address"]), (named(m), sender["address"])
        assert contact["phone"] in text and contact["email"] in text
    assert contact["phone"] in m.sms and sender["organisation"] in m.sms
    # signed: by the school's SENCO (named, with their role) or the LA's officer responsible (by title)
    assert m.letter.rstrip().endswith(sender["organisation"])
    assert sender["signatory"]["name"] in m.letter.split("Yours sincerely,")[1]
    assert '<footer class="signature">' in m.letter_html


def test_school_duties_come_from_the_school_and_the_las_from_the_la() -> None:
    for m in DURHAM_MESSAGES:
        school = m.duty in {
            "sen_provision_started",
            "sen_provision_made",
            "removed_from_sen_register",
            "support_plan_review_outcome",
            "access_invitation",
        }
        expected = "Riverside Primary School (illustration)" if school else "Durham County Council"
        assert m.sender["organisation"] == expected, named(m)
        if school:
            assert m.contact["email"] == "senco@riverside.durhamlearning.net"
            assert "Mrs Aisha Khan" in m.letter.split("Yours sincerely,")[1]
        else:
            assert m.contact == {
                "name": "SEN Casework Team",
                "email": "sencasework@durham.gov.uk",
                "phone": "03000 267 800",
            }


def test_a_school_the_la_has_not_listed_is_written_for_by_the_las_send_team_and_says_so() -> None:
    [m, *_] = every_template_rendered([MOTHER], school_urn="100999")
    assert m.duty == "sen_provision_started"
    assert m.sender["organisation"] == "Durham County Council" and m.sender["standing_in_for"] == "school 100999"
    assert "Written by the SEN Casework Team for school 100999." in m.letter
    assert "Written by the SEN Casework Team for school 100999." in html_text(m.letter_html)


@pytest.mark.parametrize("m", ALL, ids=named)
def test_every_message_carries_its_short_reference_derived_from_its_id(m: RenderedMessage) -> None:
    assert m.reference == short_reference(m.notification_id) and SHAPE.match(m.reference)
    assert not ONE_TIME_CODE.search(m.reference)  # never hidden from a view as if it were an invitation's code
    assert f"Our reference: {m.reference}" in m.letter and f"Our reference: {m.reference}" in m.body
    assert f"Please quote our reference {m.reference}" in m.letter or f"quote reference {m.reference}" in m.body
    assert f"Ref {m.reference}" in m.sms
    assert f"<strong>{m.reference}</strong>" in m.letter_html


def test_a_replay_gives_every_message_the_same_reference_and_words() -> None:
    again = every_template_rendered()
    assert [(m.notification_id, m.reference, m.content_hash) for m in again] == [
        (m.notification_id, m.reference, m.content_hash) for m in DURHAM_MESSAGES
    ]
    assert len({m.reference for m in ALL}) == len({m.notification_id for m in ALL})  # one each


def test_a_reference_read_out_or_typed_by_hand_is_found_as_printed() -> None:
    ref = DURHAM_MESSAGES[0].reference
    assert normalised_reference(ref.lower().replace("-", " ")) == ref
    assert normalised_reference(ref.replace("-", "").replace("0", "O").replace("1", "l")) == ref
    assert normalised_reference("HN4QX-7RB2") is None and normalised_reference("HN4QX-7RB2U!") is None


@pytest.mark.parametrize("m", ALL, ids=named)
def test_signposting_is_on_every_statutory_letter_and_where_a_decision_can_be_disagreed_with(
    m: RenderedMessage,
) -> None:
    help = m.help
    letter, html = m.letter, html_text(m.letter_html)
    for key, service in ((SENDIASS, help[SENDIASS]), (DISAGREEMENT, help[DISAGREEMENT]), (MEDIATION, help[MEDIATION])):
        present = key in m.signposts
        for text in (letter, html):
            assert (service["name"] in text) is present, (named(m), key)
            if present:
                assert service["phone"] in text
    if m.duty in FOR_PROFESSIONALS | NOT_STATUTORY:
        assert m.signposts == () and "Where to get help" not in letter
    else:
        assert SENDIASS in m.signposts  # every statutory letter, and the first letter about SEN support (seed 004)
    if m.duty in {"ehc_assessment_refused", "ehc_plan_not_issued", "ehc_final_plan", "ehc_plan_ceased"}:
        assert {DISAGREEMENT, MEDIATION} <= set(m.signposts)  # decisions that can be appealed
    if m.duty in {"sen_provision_started", "removed_from_sen_register"}:
        assert DISAGREEMENT in m.signposts  # the school's decisions, too (CoP 11.7)


@pytest.mark.parametrize("m", ALL, ids=named)
def test_no_message_holds_a_protected_address(m: RenderedMessage) -> None:
    for text in (m.subject, m.body, m.sms, m.letter, m.letter_html):
        assert not any(w in text for w in PROTECTED_WORDS), named(m)


@pytest.mark.parametrize("m", ALL, ids=named)
def test_every_name_is_printed_as_written(m: RenderedMessage) -> None:
    name = m.recipient["name"]
    assert f"Dear {name}," in m.letter and f"Dear <bdi>{name}</bdi>," in m.letter_html
    assert f'<address class="recipient">\n<bdi>{name}</bdi><br>' in m.letter_html
    postcode = m.recipient["postal_address"]["postcode"] if m.recipient.get("postal_address") else None
    if postcode:
        assert postcode in m.letter.split("Date:")[0] and postcode in m.letter_html.split('class="date"')[0]
    assert "?" not in name and "\ufffd" not in m.letter + m.letter_html
    if not m.to_young_person:
        assert CHILD_GIVEN in m.letter  # Łukasz, with its Ł


@pytest.mark.parametrize("m", ALL, ids=named)
def test_the_letters_html_says_the_same_words_as_its_text(m: RenderedMessage) -> None:
    assert html_text(m.letter_html) == words(m.letter)
    assert (
        m.letter_html.startswith('<!DOCTYPE html>\n<html lang="en-GB">') and '<meta charset="utf-8">' in m.letter_html
    )
    for part in (
        '<header class="letterhead">',
        '<address class="recipient">',
        '<div class="contact">',
        "<h1>",
        "<main>",
    ):
        assert part in m.letter_html, part


@pytest.mark.parametrize("m", DURHAM_MESSAGES + YOUNG_PERSON_MESSAGES, ids=named)
def test_an_email_at_the_full_content_level_is_the_letter_without_the_address_block(m: RenderedMessage) -> None:
    postal = m.recipient.get("postal_address")
    block = 1 + (len(postal["lines"]) + 2 if postal else 0)  # the name, the lines, the town and the postcode
    letter = m.letter.splitlines()
    start = letter.index(m.recipient["name"])
    without = letter[:start] + letter[start + block :]
    without.remove(m.subject)  # the letter's heading is the email's subject
    assert words("\n".join(without)) == words(m.body)
    assert m.subject.lower() in m.letter.lower()


def test_the_letters_html_asks_for_large_print_for_a_reader_who_needs_it() -> None:
    to_mother = [m for m in DURHAM_MESSAGES if m.recipient["name"] == MOTHER.name]
    assert to_mother and all('<body class="letter large-print">' in m.letter_html for m in to_mother)
    assert all('<body class="letter">' in m.letter_html for m in DURHAM_MESSAGES if m.recipient["name"] == FATHER.name)


@pytest.mark.parametrize("m", [m for m in YOUNG_PERSON_MESSAGES if m.to_young_person], ids=named)
def test_a_letter_to_a_young_person_speaks_to_them_not_about_them(m: RenderedMessage) -> None:
    # their name is on the envelope and in the greeting, and nowhere else: "you", "your"
    body = m.letter.split(f"Dear {CHILD},", 1)[1]
    assert CHILD_GIVEN not in body, body
    assert CHILD_GIVEN not in m.subject and CHILD_GIVEN not in m.sms.split("Ref")[0]
    assert re.search(r"\b(you|your|You|Your)\b", m.subject + body)
    assert "your child" not in body and " their needs" not in body


def test_a_letter_about_a_young_person_to_a_parent_they_allow_is_about_them() -> None:
    [to_mother, *_] = every_template_rendered([YOUNG_PERSON, MOTHER])
    parents_copy = [m for m in every_template_rendered([MOTHER]) if m.duty == "ehc_final_plan"]
    assert to_mother.to_young_person
    assert all(CHILD in m.letter for m in parents_copy)


# -- emails and texts at the LA's content level; texts that say where the rest is ----------------------------


def test_an_la_that_keeps_a_childs_details_out_of_emails_and_texts_sends_notices_and_complete_letters() -> None:
    for m in NOTICE_ONLY_MESSAGES:
        if m.duty == "access_invitation":
            continue  # its code is the message (content.COMPLETE_AS_WRITTEN)
        assert m.subject.startswith("A letter from ") and m.reference in m.subject
        greeting = f"Dear {m.recipient['name']},"  # a young person's own name, in the greeting only
        for text in (m.subject, m.body.replace(greeting, ""), m.sms):
            assert CHILD_GIVEN not in text and "EHC" not in text and "SEN support" not in text, (named(m), text)
        assert CHILD_GIVEN in m.letter or m.to_young_person  # the letter itself is complete
        assert "What you can do next" in m.letter and "What you can do next" not in m.body


def test_a_notice_or_a_text_says_where_the_complete_letter_is() -> None:
    # The young person prefers texts: a text (the notice) and, besides it, the complete letter by post.
    to_young = [m for m in NOTICE_ONLY_MESSAGES if m.to_young_person and m.duty == "ehc_final_plan"]
    [text, letter] = sorted(to_young, key=lambda m: m.companion_of is not None)
    assert text.channel == "sms" and letter.channel == "letter" and letter.companion_of == text.notification_id
    assert "The letter is being posted to you today." in text.sms
    assert "The letter with all the details is being posted to you today." in text.body
    # The father prefers email (a notice here): the complete letter goes by post beside it.
    to_father = [m for m in NOTICE_ONLY_MESSAGES if m.recipient["name"] == FATHER.name and m.duty == "ehc_final_plan"]
    assert sorted((m.channel, m.companion_of is not None) for m in to_father) == [("email", False), ("letter", True)]
    # The mother prefers letters: one message, the complete letter.
    to_mother = [m for m in NOTICE_ONLY_MESSAGES if m.recipient["name"] == MOTHER.name and m.duty == "ehc_final_plan"]
    assert [(m.channel, m.companion_of) for m in to_mother] == [("letter", None)]


def test_a_text_at_the_full_level_gives_the_key_facts_and_where_the_letter_is_never_details_not_sent() -> None:
    at_full = every_template_rendered([YOUNG_PERSON])  # Durham: full content; Łukasz prefers texts
    texts = [m for m in at_full if m.channel == "sms"]
    assert texts
    for m in texts:
        if m.duty == "access_invitation":
            assert "K7QM-3XD9-TWPA" in m.sms  # the code is the message
            continue
        assert "The letter with the details is being posted to you today." in m.sms, m.sms
        [companion] = [c for c in at_full if c.companion_of == m.notification_id]
        assert companion.channel == "letter" and companion.reference != m.reference
    for m in ALL:
        for wrong in ("We have sent you the details", "Details sent", "Letter to follow", "has been sent to you"):
            assert wrong not in m.sms, (named(m), m.sms)
        assert len(m.sms) <= 306, (named(m), len(m.sms))  # two text fragments at most


def test_a_person_with_no_postal_address_is_told_how_to_ask_for_the_letter() -> None:
    only_a_mobile = YOUNG_PERSON.model_copy(update={"postal_address": None, "email": None})
    [m, *_] = every_template_rendered([only_a_mobile])
    assert m.channel == "sms" and m.companion_of is None
    assert "For the letter with the details, call or email us." in m.sms
    email_only = MOTHER.model_copy(update={"postal_address": None, "preferred_channel": Channel.EMAIL})
    [n, *_] = every_template_rendered([email_only], letters=config(ILLUSTRATION_929), school_urn="122999")
    assert "We have no postal address for you, so the letter with all the details cannot be posted." in n.body
    assert f"quoting reference {n.reference}" in n.body


# -- the wording faults of issue 13 -------------------------------------------------------------------------------


def test_the_first_sen_support_letter_says_what_the_code_says_and_what_parents_may_ask_for() -> None:
    [m] = [m for m in DURHAM_MESSAGES if m.duty == "sen_provision_started" and m.recipient["name"] == MOTHER.name]
    assert "The SEND Code of Practice says schools should meet parents at least three times a year" in m.letter
    assert "you can ask Durham County Council for an education, health and care (EHC) needs assessment yourself" in (
        m.letter
    )
    assert "speech, language and communication needs (SLCN)" in m.letter
    nsa = every_template_rendered([MOTHER])[0]
    assert "(NSA)" not in nsa.letter and "not yet assessed by a specialist (NSA)" not in nsa.letter


def test_an_annual_review_invitation_tells_families_what_professionals_are_not_told() -> None:
    invitations = [m for m in DURHAM_MESSAGES if m.duty == "annual_review_invitation"]
    family = [m for m in invitations if m.recipient["relationship"] in ("mother", "father")]
    [professional] = [m for m in invitations if m.recipient["relationship"] == "educational psychologist"]
    for m in family:
        assert "at least two weeks before the meeting" in m.letter
        assert "You can bring someone with you" in m.letter
        assert f"help us hear {CHILD}'s own views, wishes and feelings" in m.letter
    assert "bring someone with you" not in professional.letter
    assert "shared with the family at least two weeks before the meeting" in professional.letter
    assert professional.body != family[0].body


def test_mediation_is_not_required_before_an_appeal_only_about_the_school_named() -> None:
    [final] = [m for m in DURHAM_MESSAGES if m.duty == "ehc_final_plan" and m.recipient["name"] == MOTHER.name]
    assert "unless your appeal is only about the school or other placement named in the plan" in final.letter
    [refused] = [
        m for m in DURHAM_MESSAGES if m.duty == "ehc_assessment_refused" and m.recipient["name"] == MOTHER.name
    ]
    assert "placement named" not in refused.letter  # no plan, no placement: mediation advice first


def test_cancelling_a_text_cancels_the_complete_letter_sent_beside_it() -> None:
    from services.notifications.application import Notifications
    from services.notifications.policies import when_duty_to_tell_arises_owe_notifications
    from services.runtime.eventstore import IN_MEMORY_ENV
    from tests.conftest import SCHOOL_DAY
    from tests.support.every_letter import CASE, PUPIL, every_statutory_event
    from tests.support.factories import caseworker
    from tests.support.inmemory import as_actor
    from tests.support.register_events import wrap

    app = Notifications(env=IN_MEMORY_ENV)
    app.letters_config = config()
    fact = every_statutory_event([YOUNG_PERSON])["ehcp.plan_finalised"]
    envelope = wrap(fact, "ehcp", 1, PUPIL, None, CASE)
    text, letter = as_actor(caseworker(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, envelope)
    as_actor(caseworker(), SCHOOL_DAY, app.save, text, letter)
    assert (text.channel, letter.channel, letter.companion_of) == ("sms", "letter", text.id)
    as_actor(caseworker(), SCHOOL_DAY, app.cancel, text.id, "sent to the wrong family")
    assert app.notification(letter.id).status == "cancelled"
    assert app.notification(letter.id).reason == "sent to the wrong family"
