"""Letters on paper (issue 13, item 2): every name printed right, whatever its script; a tagged, accessible A4 PDF;
the address in the envelope's window where GOV.UK Notify's letter specification puts it; the same bytes every
time. Real renders with WeasyPrint and the Noto fonts (each about 0.1 s), read back with pypdf, pdfminer.six and
pikepdf: nothing mocked.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from uuid import uuid4

import pikepdf
import pytest

from contracts.people import Channel, PostalAddress
from contracts.register import PupilAddedToSenSupport
from services.notifications.adapters.channels import FileOutbox, Message, PermanentFailure
from services.notifications.adapters.letters import address_lines, body_html, letter_pdf
from services.runtime.documents import (
    ADDRESS_WINDOW,
    LOGO_BLOCK,
    LetterLayout,
    RendererNotReady,
    check_fonts,
    isolate,
    pdf_text_lines,
    render_pdf,
)
from services.runtime.documents import fonts as document_fonts
from services.runtime.documents.layout import AddressUnprintable
from tests.support.every_letter import (
    ILLUSTRATION_929,
    PARENTS,
    SENT_ON_IN_WORDS,
    YOUNG_PERSON,
    RenderedMessage,
    config,
    every_template_rendered,
)
from tests.support.letters import (
    CONTACT_AREA,
    _inside,
    accessibility_problems,
    address_in_window,
    characters,
    lines,
    notify_problems,
    pages,
    structure_tags,
)
from tests.support.register_events import mother, pupil_added, wrap
from tests.unit.test_notification_content import PUPIL, _every_statutory_event, owe

URDU_MOTHER = "عائشہ خان"
CHINESE_FATHER = "王小明"
BENGALI_GRANDMOTHER = "রহিম উদ্দিন"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def words(body: str) -> str:
    """The email's words as the letter prints them: a line "- item" is a bulleted list item."""
    lines = (line[2:] if line.startswith(("- ", "* ")) else line for line in body.split("\n"))
    return nfc(" ".join(" ".join(lines).split()))


def printed_words(pdf: bytes) -> str:
    """The letter's words as a reader extracts them (the list's bullets, drawn as markers, left out)."""
    return nfc(" ".join(line for line in pdf_text_lines(pdf) if line.strip("• ")).replace("• ", ""))


def urdu_mother(**changes):
    values = dict(
        name=URDU_MOTHER,
        email=None,
        mobile=None,
        postal_address=PostalAddress(lines=["12 Front Street", "Flat 3"], town="Durham", postcode="DH1 3AB"),
        preferred_channel=Channel.LETTER,
    )
    values.update(changes)
    return mother(13, **values)


def lukasz_added(people) -> object:
    envelope = pupil_added(13, people)
    fact = PupilAddedToSenSupport.model_validate({**envelope.payload, "given_name": "Łukasz", "family_name": "Wójcik"})
    return wrap(fact, "register", 13, fact.pupil_id, "123456")


@pytest.fixture(scope="module")
def lukasz_letter() -> tuple[dict, dict, bytes]:
    """The SEN support letter to Łukasz Wójcik's mother, whose name is written in Urdu, as the service prints it:
    the complete letter, from its HTML."""
    _, [n] = owe(lukasz_added([urdu_mother()]))
    c = n.content
    return n.recipient, c, letter_pdf(n.recipient, c["subject"], c["body"], c["letter_html"])


def test_the_names_come_out_of_the_pdf_exactly(lukasz_letter) -> None:
    _, content, pdf = lukasz_letter
    text = pdf_text_lines(pdf)
    assert text[0] == "Elm Tree Primary School"  # the letterhead: who it is from
    assert text[1] == URDU_MOTHER  # the window: her name first, exactly, in Urdu
    assert text[2:6] == ["12 Front Street", "Flat 3", "Durham", "DH1 3AB"]
    assert f"Dear {URDU_MOTHER}," in text
    assert any("Łukasz Wójcik" in line for line in text)
    joined = printed_words(pdf)
    assert "\ufffd" not in joined and "?" not in joined  # nothing replaced
    # the whole letter, heading to signature, word for word, in order
    assert main_words(content["letter_html"]) in letter_words(pdf)
    assert nfc(content["subject"]) == text[text.index(content["subject"])]


def test_each_parent_gets_a_letter_with_their_own_name_exactly_chinese_and_bengali_too() -> None:
    father = urdu_mother(
        person_id=uuid4(), name=CHINESE_FATHER, relationship="father", preferred_channel=Channel.LETTER
    )
    grandmother = urdu_mother(person_id=uuid4(), name=BENGALI_GRANDMOTHER, relationship="grandmother")
    _, owed = owe(lukasz_added([father, grandmother]))
    assert [n.recipient["name"] for n in owed] == [CHINESE_FATHER, BENGALI_GRANDMOTHER]
    for n in owed:
        name = n.recipient["name"]
        pdf = letter_pdf(n.recipient, n.content["subject"], n.content["body"], n.content["letter_html"])
        text = pdf_text_lines(pdf)
        assert text[1] == name and f"Dear {name}," in text, text[:8]  # under the letterhead, in the window
        assert any("Łukasz Wójcik" in line for line in text)
        assert notify_problems(pdf) == []


def test_the_letter_is_tagged_and_accessible(lukasz_letter) -> None:
    _, content, pdf = lukasz_letter
    assert accessibility_problems(pdf, title=content["subject"], language="en-GB") == []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        tags = structure_tags(doc)
        assert tags[0] == "Document" and tags.count("H1") == 1
        # the reading order: who it is to, then the heading, then the letter's sections
        assert tags.index("H1") < tags.index("H2")
        # What this means, What you can do next, Where to get help, Who to contact
        assert tags.count("H2") == content["letter_html"].count("<h2>") >= 4
        assert str(doc.Root.Lang) == "en-GB" and bool(doc.Root.MarkInfo.Marked)
        assert str(doc.docinfo.Title) == content["subject"]
        assert "/CreationDate" not in doc.docinfo  # nothing from the clock


def test_the_letter_is_a4_with_the_address_in_the_envelopes_window(lukasz_letter) -> None:
    recipient, _, pdf = lukasz_letter
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            assert [round(float(v), 1) for v in page.mediabox] == [0, 0, 595.3, 841.9]  # A4 in points
    assert notify_problems(pdf) == []
    window = address_in_window(pdf)
    assert len(window) == len(address_lines(recipient)) == 5
    for line in window:
        assert _inside(line.box, ADDRESS_WINDOW, tolerance=0), (line.text, line.box)
    # every character of the address, the Urdu name's included, lies inside the window itself
    first = pages(pdf)[0]
    in_window = [c for c in characters(first) if _inside(c.box, ADDRESS_WINDOW, tolerance=0)]
    assert nfc("".join(c.text for c in in_window)).replace(" ", "") != ""
    assert {c.text for c in in_window} >= set("DH13AB") | (set(URDU_MOTHER) - {" "})


def test_the_same_letter_is_the_same_bytes_in_another_process(lukasz_letter) -> None:
    recipient, content, pdf = lukasz_letter
    made_from = [recipient, content["subject"], content["body"], content["letter_html"]]
    assert letter_pdf(*made_from) == pdf
    script = (
        "import sys, json, hashlib\n"
        "from services.notifications.adapters.letters import letter_pdf\n"
        "r, s, b, h = json.loads(sys.stdin.read())\n"
        "print(hashlib.sha256(letter_pdf(r, s, b, h)).hexdigest())\n"
    )
    import json

    made = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(made_from),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert made.stdout.strip() == hashlib.sha256(pdf).hexdigest()
    # and another letter is other bytes, with another document id
    other = letter_pdf(recipient, content["subject"], content["body"], content["letter_html"].replace("Dear", "Hello"))
    assert other != pdf
    with pikepdf.open(io.BytesIO(pdf)) as a, pikepdf.open(io.BytesIO(other)) as b:
        assert bytes(a.trailer.ID[0]) != bytes(b.trailer.ID[0])


def test_right_to_left_names_are_isolated_so_the_sentence_keeps_its_order() -> None:
    assert isolate(f"Dear {URDU_MOTHER}, عمر خان and {CHINESE_FATHER},") == (
        f'Dear <bdi dir="auto">{URDU_MOTHER}</bdi>, <bdi dir="auto">عمر خان</bdi> and {CHINESE_FATHER},'
    )
    # a name marked by a plain-text template (FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE): the marks go
    assert isolate("Dear \u2068Ali <b>\u2069,") == 'Dear <bdi dir="auto">Ali &lt;b&gt;</bdi>,'
    assert isolate("\u2069 stray \u2068open") == ' stray <bdi dir="auto">open</bdi>'


def test_every_script_a_familys_name_may_be_written_in_is_printed_in_a_noto_font() -> None:
    names = [s.sample for s in document_fonts.SCRIPTS]
    body = "".join(f"<p>{isolate(name)}</p>" for name in names)
    pdf = render_pdf(body, title="Names", language="en-GB")
    text = [nfc(line) for line in pdf_text_lines(pdf)]
    for name in names:
        if "Nastaliq" in name:
            continue
        assert nfc(name) in text, name
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        fonts = {
            str(f.BaseFont).split("+", 1)[1] for _, f in doc.pages[0].Resources.Font.items()
        }  # e.g. /ABCDEF+Noto-Sans-Bengali
    assert {"Noto-Sans", "Noto-Naskh-Arabic", "Noto-Sans-Bengali", "Noto-Sans-CJK-SC", "Noto-Sans-Tamil"} <= fonts
    assert all(f.startswith("Noto") for f in fonts), fonts


@pytest.mark.parametrize("event_type", sorted(_every_statutory_event()))
def test_every_letter_prints_to_the_notify_specification_with_every_name_right(event_type: str) -> None:
    from services.notifications.policies import DUTIES

    fact = _every_statutory_event()[event_type]
    payload = fact if isinstance(fact, dict) else fact.model_dump(mode="json")
    family = {"people_to_tell": [urdu_mother().model_dump(mode="json")]}
    for key, value in (("given_name", "Łukasz"), ("family_name", "Wójcik"), ("child_name", "Łukasz Wójcik")):
        if key in payload:
            family[key] = value
    payload = {**payload, **family}
    env = wrap(DUTIES[event_type].payload.model_validate(payload), event_type.split(".")[0], 5, PUPIL, "123456")
    _, [n] = owe(env)
    c = n.content
    pdf = letter_pdf(n.recipient, c["subject"], c["body"], c["letter_html"])
    assert notify_problems(pdf) == []
    assert accessibility_problems(pdf, title=c["subject"], language="en-GB") == []
    text = printed_words(pdf)
    assert main_words(c["letter_html"]) in letter_words(pdf)  # the complete letter's words, all of them, in order
    assert URDU_MOTHER in text
    if any(k in family for k in ("given_name", "child_name")):
        assert "Łukasz" in text


def test_the_letters_body_becomes_headings_paragraphs_and_a_code_set_apart() -> None:
    html = body_html(
        "Dear Alex,\n\nIt happened.\nA second line.\n\nWhat this means\nIt means this.\n\n"
        "What you can do next\nEnter this code:\n\n    K7QM-3XD9-TWPA\n\n- one\n- two <three>\n\nReference: X"
    )
    assert html.split("\n") == [
        "<p>Dear Alex,</p>",
        "<p>It happened.</p>",
        "<p>A second line.</p>",
        "<h2>What this means</h2>",
        "<p>It means this.</p>",
        "<h2>What you can do next</h2>",
        "<p>Enter this code:</p>",
        '<p class="code">K7QM-3XD9-TWPA</p>',
        "<ul><li>one</li><li>two &lt;three&gt;</li></ul>",
        "<p>Reference: X</p>",
    ]


def test_an_address_the_window_cannot_take_is_refused_plainly() -> None:
    with pytest.raises(AddressUnprintable, match="3 to 7 lines, the name first and the postcode last; this one has 2"):
        LetterLayout(address=("Aisha Khan", "DH1 3AB"))
    with pytest.raises(AddressUnprintable, match="this one has 8"):
        LetterLayout(address=tuple(f"line {i}" for i in range(8)))
    # through the file channel: a permanent failure of the letter channel, with the reason, and nothing written
    message = Message(
        notification_id=uuid4(),
        pupil_id=uuid4(),
        key="n.letter",
        channel="letter",
        recipient={"name": "Aisha Khan", "postal_address": None},
        subject="Subject",
        body="Dear Aisha Khan,\n",
        sms="",
        content_hash="ab" * 32,
    )

    async def send(outbox: FileOutbox):
        return await outbox.send_many([message])

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        [outcome] = asyncio.run(send(FileOutbox(Path(folder))))
        assert isinstance(outcome, PermanentFailure) and "the letter cannot be printed" in str(outcome)
        assert not any(Path(folder).rglob("*.pdf"))


def test_a_missing_font_stops_the_renderer_with_what_to_install(monkeypatch) -> None:
    check_fonts()  # this machine has them all
    klingon = document_fonts.Script("Klingon", "Noto Sans Klingon", "A", "fonts-noto-klingon")
    monkeypatch.setattr(document_fonts, "SCRIPTS", (*document_fonts.SCRIPTS, klingon))
    document_fonts._checked.cache_clear()
    try:
        with pytest.raises(RendererNotReady) as refused:
            render_pdf("<p>x</p>", title="x")
        assert "fonts are missing: Noto Sans Klingon for Klingon" in str(refused.value)
        assert "apt-get install fonts-noto-klingon" in str(refused.value)
    finally:
        monkeypatch.undo()
        document_fonts._checked.cache_clear()
    check_fonts()


def test_the_specification_check_finds_a_page_not_laid_out_for_the_window() -> None:
    # a document without the letter layout prints its first lines where the envelope shows nothing: refused,
    # as Notify would refuse it (the check these tests rely on can fail)
    pdf = render_pdf("<h1>A plan</h1>" + "<p>Łukasz Wójcik</p>" * 6, title="A plan", language="en-GB")
    problems = notify_problems(pdf)
    assert problems[0].startswith("content-outside-printable-area: page 1: 'ŁukaszWójcik")
    assert problems[1] == "not-a-real-uk-postcode: 'Łukasz Wójcik'"  # what lay where the window is
    assert accessibility_problems(pdf, title="Another title", language="cy") == [
        "Lang is 'en-GB', not 'cy'",
        "Title is 'A plan', not 'Another title'",
    ]


def test_nothing_is_fetched_while_rendering_but_an_embedded_image_is_printed(tmp_path) -> None:
    secret = tmp_path / "secret.css"
    secret.write_text("p { color: red }")
    one_pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

    def images(pdf: bytes) -> int:
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            return len(doc.pages[0].get_images())

    refused = render_pdf(
        f'<link rel="stylesheet" href="file://{secret}"><img src="file://{secret}" alt="not read"><p>text</p>',
        title="t",
    )
    assert images(refused) == 0 and "not read" in " ".join(pdf_text_lines(refused))
    embedded = render_pdf(f'<img src="data:image/png;base64,{one_pixel}" alt="a logo"><p>text</p>', title="t")
    assert images(embedded) == 1


# -- the complete letter (letter_html, written since December 2026) printed as it is -------------------------------

DURHAM_LETTERS = [m for m in every_template_rendered() if m.recipient.get("postal_address")]
NOTICE_ONLY = [
    m
    for m in every_template_rendered([*PARENTS, YOUNG_PERSON], letters=config(ILLUSTRATION_929), school_urn="122999")
    if m.recipient.get("postal_address")
]
YOUNG_PERSON_LETTERS = [m for m in every_template_rendered([YOUNG_PERSON]) if m.recipient.get("postal_address")][:3]
LOGO_WORDS = "A placeholder: the council supplies its own logo"  # drawn in Durham's placeholder logo (an SVG)


def _named(m: RenderedMessage) -> str:
    return f"{m.duty} to {m.recipient['name']}" + (" (the complete letter)" if m.companion_of else "")


def main_words(letter_html: str) -> str:
    """The words of the letter's <main> (its heading to its signature), as a reader sees them, in order."""

    class Words(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.words: list[str] = []
            self.depth = 0

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.depth += tag == "main"

        def handle_endtag(self, tag: str) -> None:
            self.depth -= tag == "main"

        def handle_data(self, data: str) -> None:
            if self.depth:
                self.words.append(data)

    parser = Words()
    parser.feed(letter_html)
    return nfc(re.sub(r"([-/]) ", r"\1", " ".join("".join(parser.words).split())))


def letter_words(pdf: bytes) -> str:
    """printed_words without the page numbers printed in the bottom margin, a line broken after a hyphen or a slash
    (a long web address, a double-barrelled name) joined again as it is written (main_words does the same)."""
    lines = [line for line in pdf_text_lines(pdf) if line.strip("• ") and not re.fullmatch(r"Page \d+ of \d+", line)]
    return nfc(re.sub(r"([-/]) ", r"\1", " ".join(lines).replace("• ", "")))


def _printed(m: RenderedMessage) -> bytes:
    return letter_pdf(m.recipient, m.subject, m.body, m.letter_html)


@pytest.mark.parametrize("m", DURHAM_LETTERS + NOTICE_ONLY[:4] + YOUNG_PERSON_LETTERS, ids=_named)
def test_the_complete_letter_is_printed_from_its_html_dated_and_referenced_the_address_in_the_window(
    m: RenderedMessage,
) -> None:
    pdf = _printed(m)
    assert notify_problems(pdf) == []
    title = html.unescape(re.search(r"<title>(.*?)</title>", m.letter_html, re.S).group(1))  # the letter's subject
    assert accessibility_problems(pdf, title=title, language="en-GB") == []
    address = address_lines(m.recipient)
    # the window holds the address and nothing else (the name checked below: pdfminer reads Urdu backwards)
    assert [line.text for line in address_in_window(pdf)][1:] == [nfc(x) for x in address[1:]]
    text = pdf_text_lines(pdf)
    first = next(i for i, line in enumerate(text) if line == nfc(m.recipient["name"]))
    assert text[first : first + len(address)] == [nfc(x) for x in address]
    contact = [line.text for line in lines(pages(pdf)[0]) if _inside(line.box, CONTACT_AREA)]
    assert f"Date: {SENT_ON_IN_WORDS}" in contact and f"Our reference: {m.reference}" in contact, contact
    assert m.sender["organisation"] in text[:3]  # the letterhead: who it is from
    # the whole letter, heading to signature, word for word (the bullets, drawn as markers, left out)
    assert main_words(m.letter_html) in letter_words(pdf)
    if '<img class="logo"' in m.letter_html:  # the logo (a data: URI) is drawn, inside the logo block
        logo = [line for line in lines(pages(pdf)[0]) if line.text == LOGO_WORDS]
        assert logo and all(_inside(line.box, LOGO_BLOCK) for line in logo)
    else:
        assert LOGO_WORDS not in text


def test_a_notice_only_email_is_not_what_is_printed_the_complete_letter_is() -> None:
    m = next(m for m in NOTICE_ONLY if m.body != m.letter and m.companion_of is None)
    pdf = _printed(m)
    assert main_words(m.letter_html) in letter_words(pdf)
    assert "What this means" in pdf_text_lines(pdf) and "What this means" not in m.body
    # older content (no letter_html) is still printed from its body, as it was sent then
    older = letter_pdf(m.recipient, m.subject, m.body)
    assert words(m.body) in printed_words(older) and "What this means" not in pdf_text_lines(older)


def test_some_letters_carry_the_logo_and_some_do_not() -> None:
    # the parametrised test above checks both branches: make sure there is something in each
    assert any('<img class="logo" src="data:' in m.letter_html for m in DURHAM_LETTERS)
    assert any('<img class="logo"' not in m.letter_html for m in DURHAM_LETTERS)
