"""Content people can act on: one Jinja2 template per duty, rendered from the facts the event carried.

Every template says what happened, what it means, what the reader can do next and by when, where to get help and
who to contact. The layouts around it (base.j2 for text, base.html.j2 for the letter's HTML) add what every message
states: who it is from (the school or the LA, from the LA's letters configuration), the date it is sent, the short
reference to quote, the signposting a family is owed, and who signs it. One rendering gives:

- `subject`, `body` (the email) and `sms`: at the LA's content level for email and text: in full, or a notice
  that a letter is waiting and how it reaches them (no child's details in it);
- `letter` and `letter_html`: the complete letter, always, as text and as simple semantic HTML (what the PDF
  renders: a letterhead, the recipient's address block, the date, the reference, headings, a signature block).

All of it is hashed (sha256 of its canonical JSON) so that an auditor can prove exactly what was sent. Templates use
StrictUndefined: a fact a template needs and the event lacks is an error (retried, then dead-lettered for a person),
never a letter with a blank in it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined
from markupsafe import Markup, escape

from contracts.identifiers import NeedType
from contracts.people import CommunicationNeeds

TEMPLATES = Path(__file__).parent / "templates"
YOUNG_PERSON = "young person"

# Where each message points a family for help (docs/notifications.md, "Where to get help"): SENDIASS on every
# statutory letter and on the first letter about SEN support (seed 004; CoP 6.39); disagreement resolution where a
# decision of the school or the LA can be disagreed with (CoP 11.7: SEN support too); mediation where a decision can
# be appealed to the Tribunal (CFA 2014 s.55). Messages to professionals and invitations carry none.
SENDIASS, DISAGREEMENT, MEDIATION = "sendiass", "disagreement_resolution", "mediation"
SIGNPOSTING: dict[str, tuple[str, ...]] = {
    "sen_provision_started": (SENDIASS, DISAGREEMENT),
    "sen_provision_made": (SENDIASS, DISAGREEMENT),
    "removed_from_sen_register": (SENDIASS, DISAGREEMENT),
    "support_plan_review_outcome": (SENDIASS, DISAGREEMENT),
    "ehc_request_received": (SENDIASS,),
    "ehc_assessment_agreed": (SENDIASS,),
    "ehc_assessment_refused": (SENDIASS, DISAGREEMENT, MEDIATION),
    "ehc_plan_not_issued": (SENDIASS, DISAGREEMENT, MEDIATION),
    "ehc_draft_plan": (SENDIASS, DISAGREEMENT),
    "ehc_final_plan": (SENDIASS, DISAGREEMENT, MEDIATION),
    "annual_review_invitation": (SENDIASS,),
    "annual_review_outcome": (SENDIASS, DISAGREEMENT, MEDIATION),
    "ehc_plan_ceased": (SENDIASS, DISAGREEMENT, MEDIATION),
    "ehc_advice_requested": (),
    "professional_notice": (),
    "access_invitation": (),
}


# Messages whose text is complete by itself (an invitation's one-time code: the code is the message), and which go as
# written whatever the LA's content level: they name no more than the child's first name, and a notice that "a letter
# is waiting" would only delay a code that runs out in 14 days.
COMPLETE_AS_WRITTEN = frozenset({"access_invitation"})


def long_date(value: str | date) -> str:
    """'2026-12-11' -> 'Friday 11 December 2026': a deadline nobody can misread."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # names the missing fact
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{d:%A} {d.day} {d:%B %Y}"


def letter_date(value: str | date) -> str:
    """The date a message is sent, as a letter is dated in England: '25 November 2026'."""
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{d.day} {d:%B %Y}"


def need(value: str) -> str:
    return f"{NeedType(value).in_words} ({value})"


def paragraphs(text: Any) -> Markup:
    """A block's text as HTML: each line a paragraph, lines starting "- " a list, an indented line a code to type.
    The text is the template's output (its values already escaped), or a plain string (escaped here)."""
    safe = text if isinstance(text, Markup) else escape(str(text))
    out: list[str] = []
    items: list[str] = []

    def close_list() -> None:
        if items:
            out.append("<ul>\n" + "\n".join(f"<li>{i}</li>" for i in items) + "\n</ul>")
            items.clear()

    for raw in str(safe).split("\n"):
        line = raw.rstrip()
        if not line.strip():
            close_list()
            continue
        if line.lstrip().startswith("- "):
            items.append(line.lstrip()[2:].strip())
            continue
        close_list()
        if line.startswith("    "):
            out.append(f'<p class="code"><strong>{line.strip()}</strong></p>')
        else:
            out.append(f"<p>{line.strip()}</p>")
    close_list()
    return Markup("\n".join(out))


def _environment(html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=html,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(long_date=long_date, letter_date=letter_date, need=need, paragraphs=paragraphs)
    return env


_text = _environment(html=False)
_html = _environment(html=True)


@dataclass(frozen=True)
class Content:
    template: str
    subject: str
    body: str  # the email: the whole message, or the notice (the LA's content level for email)
    sms: str  # the text: its key facts and where the rest is, or the notice (the LA's content level for text)
    letter: str  # the complete letter as text: the same words as letter_html
    letter_html: str  # the complete letter as HTML: what the PDF renders
    content_hash: str
    reference: str
    dated_on: date


def content_hash(subject: str, body: str, sms: str, letter: str | None = None, letter_html: str | None = None) -> str:
    """sha256 of the content's canonical JSON. Content written before letters were stored apart (December 2026)
    has subject, body and sms only, and hashes as it always did."""
    parts: dict[str, str] = {"subject": subject, "body": body, "sms": sms}
    if letter is not None or letter_html is not None:
        parts |= {"letter": letter or "", "letter_html": letter_html or ""}
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_family(recipient: dict[str, Any]) -> bool:
    """A parent or carer (with parental responsibility) or the young person: not a professional."""
    return bool(recipient.get("has_parental_responsibility")) or is_young_person(recipient)


def is_young_person(recipient: dict[str, Any]) -> bool:
    return str(recipient.get("relationship", "")).strip().lower() == YOUNG_PERSON


def _voice(facts: dict[str, Any], recipient: dict[str, Any]) -> dict[str, Any]:
    """How the message names the child: to a young person it speaks to them ("you", "your"), never about them."""
    yp = is_young_person(recipient)
    full = facts.get("child_name") or "your child"
    short = facts.get("given_name") or full
    child = "you" if yp else short
    childs = "your" if yp else f"{short}'s"
    return {
        "yp": yp,
        "family": is_family(recipient),
        "child": child,
        "Child": child[:1].upper() + child[1:],
        "child_full": "you" if yp else full,
        "childs": childs,
        "Childs": childs[:1].upper() + childs[1:],
        "childs_full": "your" if yp else f"{full}'s",
        "say": (lambda third_person, second_person: second_person if yp else third_person),
    }


def _needs(recipient: dict[str, Any]) -> CommunicationNeeds | None:
    found = recipient.get("needs")
    return CommunicationNeeds.model_validate(found) if found else None


def render(
    template_name: str,
    facts: dict[str, Any],
    recipient: dict[str, Any],
    reference: str,
    dated_on: date,
    details: str = "here",
) -> Content:
    """Everything one person is sent for one duty. `facts` hold the event's facts and, since December 2026, the
    sender, the help services and the LA's content levels (application.letterhead); `details`: where the complete
    letter is, when this message itself cannot carry it ("here": it does; "post" or "email": a second notification
    carries it there; "ask": nowhere yet, so the message says how to ask for it)."""
    needs = _needs(recipient)
    messages = facts.get("messages") or {"email": "full", "text": "full"}
    if template_name in COMPLETE_AS_WRITTEN:
        messages, details = {"email": "full", "text": "full"}, "here"
    values = {
        **facts,
        **_voice(facts, recipient),
        "recipient": recipient,
        "reference": reference,
        "dated_on": dated_on,
        # where a notice or a text says the complete letter is: a second notification carries it by post or email,
        # or, when none does ("here": this message carries it, so a notice or text goes only when that failed), ask
        "elsewhere": details if details != "here" else "ask",
        "complete_as_written": template_name in COMPLETE_AS_WRITTEN,
        "needs": needs,
        "signposts": SIGNPOSTING.get(template_name, ()),
    }

    def text(layout: str, env: Environment = _text, **more: Any) -> str:
        template = env.get_template(f"{template_name}.j2")
        return _tidy(template.render({**values, "layout": layout, **more}))

    def block(name: str, **more: Any) -> str:
        template = _text.get_template(f"{template_name}.j2")
        context = template.new_context({**values, "layout": "base.j2", **more})
        return " ".join("".join(template.blocks[name](context)).split())

    full_subject = block("subject")
    full_subject = full_subject[:1].upper() + full_subject[1:]  # "your child's final EHC plan" -> "Your child's..."
    values["full_subject"] = full_subject
    letter = text("base.j2", as_letter=True)
    letter_html = text("base.html.j2", env=_html, as_letter=True)
    if messages.get("email") == "notice_only":
        subject, body = _notice(values)
    else:
        subject, body = full_subject, text("base.j2", as_letter=False)
    if messages.get("text") == "notice_only":
        sms = _sms(values, "_notice_sms.j2", "")
    else:
        sms = _sms(values, "_sms.j2", block("sms"))
    digest = content_hash(subject, body, sms, letter, letter_html)
    return Content(template_name, subject, body, sms, letter, letter_html, digest, reference, dated_on)


def _notice(values: dict[str, Any]) -> tuple[str, str]:
    """The notice-only email: its subject and body (no child's details)."""
    template = _text.get_template("_notice.j2")
    subject = " ".join(str(getattr(template.make_module(values), "subject")()).split())  # noqa: B009
    return subject, _tidy(template.render(values))


def _tidy(text: str) -> str:
    """At most two blank lines anywhere (before a heading), none at either end."""
    return re.sub(r"\n{4,}", "\n\n\n", re.sub(r"[ \t]+\n", "\n", text)).strip() + "\n"


def _sms(values: dict[str, Any], name: str, facts_text: str) -> str:
    template = _text.get_template(name)
    return " ".join(template.render({**values, "facts_text": facts_text}).split())
