"""A subject access export: what every service holds about a child, as an LA sends it to the family.

`assemble` turns the services' answers (contracts/subject_access.py: each service's facts and records about the
child) into the export, applying the LA's policy on other people's personal data (`SubjectAccessPolicy`) and
marking each redaction; `to_html` writes it as one self-contained HTML document (no scripts, no links out, CSS
inline; every value escaped), `to_json` as the machine-readable copy. Pure: nothing here talks to a service.

Third parties (UK GDPR Article 15(4); Data Protection Act 2018 Schedule 2 Part 3 paragraph 16):
- staff who recorded facts or made the export: by default their role and organisation only, their user id
  (a name or work email) "[redacted: staff name]" wherever it occurs;
- people with parental responsibility named on the record: shown by default (in practice they are asking);
- anyone else named (a carer without parental responsibility, a social worker, a professional): by default
  their name and contact details "[redacted: third party]", their relationship kept, and their name
  removed wherever it occurs in the text (a message to them starts with it).
A child looked after's protected address is "[withheld]" by the service itself, whatever the policy.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.read_log import ReadsPage
from contracts.subject_access import WITHHELD, HeldPage

ERASED = "[erased]"  # as services/runtime/sealing.py: a value whose person's key was destroyed
REDACTED_STAFF = "[redacted: staff name]"
REDACTED_PERSON = "[redacted: third party]"
PERSON_FIELDS = ("name", "email", "mobile", "postal_address")
LONDON = ZoneInfo("Europe/London")

LEGAL_BASIS = (
    "Article 15 of the UK General Data Protection Regulation (the right of access): you are entitled to a copy "
    "of the personal information we hold about the child, what we use it for, who we share it with, how long "
    "we keep it, and where it came from."
)
TIME_LIMIT = (
    "We must answer without undue delay and at the latest within one month of receiving the request (UK GDPR "
    "Article 12(3)). Where a request is complex we may extend this by two further months; if so we tell you "
    "within the first month, and why."
)
YOUR_RIGHTS = (
    "If anything here is wrong you may ask us to correct it (UK GDPR Article 16). If you are unhappy with how we "
    "answered, please contact our data protection officer; you may also complain to the Information "
    "Commissioner's Office (ico.org.uk, 0303 123 1113)."
)
# What each service's part of the export is, in a family's words (a new service adds its line).
SERVICES = {
    "register": (
        "The SEN register",
        "The child's record at their school: who they are, their special educational needs status and needs, "
        "the provision made, and the people with parental responsibility we were told of.",
    ),
    "notifications": (
        "Messages to the family",
        "Every letter, email and text message we owed or sent to the family about the child: what it said, how "
        "and when it was sent, and whether it arrived.",
    ),
    "plans": ("SEN support plans", "The child's SEN support plans and their reviews."),
    "ehcp": ("EHC needs assessments and plans", "Requests, assessments, EHC plans and their reviews."),
}
REQUESTERS = {
    "parent": "a person with parental responsibility for the child",
    "young_person": "the young person themself",
    "representative": "someone acting with the authority of a parent or the young person",
}
OUTCOMES = {
    "owed": "waiting to be written",
    "rendered": "written, waiting to be sent",
    "sending": "being sent",
    "sent": "sent (no delivery receipt yet)",
    "delivered": "delivered",
    "retry_due": "not yet delivered: being tried again",
    "failed": "could not be delivered",
    "cannot_notify": "could not be sent (no one or no contact detail recorded)",
    "cancelled": "cancelled before it was sent",
    "told_later": "sent later, to the people recorded since",
}


class SubjectAccessPolicy(BaseSettings):
    """The LA's policy on other people's personal data in a subject access export (environment variables
    SENDCASE_SUBJECT_ACCESS_STAFF_NAMES, ..._PARENTAL_RESPONSIBILITY, ..._OTHER_PEOPLE; docs/audit.md)."""

    model_config = SettingsConfigDict(env_prefix="SENDCASE_SUBJECT_ACCESS_", extra="ignore")

    staff_names: Literal["redact", "show"] = "redact"  # redact: shown by role and organisation only
    parental_responsibility: Literal["show", "redact"] = "show"
    other_people: Literal["redact", "show"] = "redact"


@dataclass(frozen=True)
class RequestDetails:
    reference: str
    requester: str
    received_on: date
    respond_by: date
    exports_made: int


@dataclass
class _Redactions:
    policy: SubjectAccessPolicy
    staff: set[str] = field(default_factory=set)
    people: dict[str, str] = field(default_factory=dict)  # person id -> name (redacted)
    counts: dict[str, int] = field(default_factory=lambda: {"staff": 0, "third_party": 0})

    def scrub(self, text: str) -> str:
        for user in sorted(self.staff, key=len, reverse=True):
            if user in text:
                self.counts["staff"] += text.count(user)
                text = text.replace(user, REDACTED_STAFF)
        for name in sorted(set(self.people.values()), key=len, reverse=True):
            if name in text:
                self.counts["third_party"] += text.count(name)
                text = text.replace(name, REDACTED_PERSON)
        return text


def _is_person(value: Any) -> bool:
    return isinstance(value, dict) and "person_id" in value and "name" in value


def _people_in(value: Any) -> Iterable[dict[str, Any]]:
    if _is_person(value):
        yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _people_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from _people_in(v)


def _shown(person: dict[str, Any], policy: SubjectAccessPolicy) -> bool:
    if person.get("has_parental_responsibility"):
        return policy.parental_responsibility == "show"
    return policy.other_people == "show"


def _redact_people(value: Any, r: _Redactions) -> Any:
    """People whose personal data the policy withholds: name and contact details replaced (marked)."""
    if isinstance(value, dict):
        withheld = _is_person(value) and str(value["person_id"]) in r.people
        out = {}
        for k, v in value.items():
            if withheld and k in PERSON_FIELDS and v not in (None, ERASED):
                out[k] = REDACTED_PERSON
                r.counts["third_party"] += k == "name"
            else:
                out[k] = _redact_people(v, r)
        return out
    if isinstance(value, list):
        return [_redact_people(v, r) for v in value]
    if isinstance(value, str):
        return r.scrub(value)
    return value


def _by(fact: dict[str, Any], r: _Redactions) -> dict[str, Any]:
    user, role = fact.get("by_user"), fact.get("by_role")
    if role in FAMILY_ROLES:  # a family member (accepting an invitation): by their role only
        return {"user": None, "role": role, "organisation": fact.get("by_organisation")}
    if user and role != "system" and r.policy.staff_names == "redact":
        r.counts["staff"] += 1
        user = REDACTED_STAFF
    return {"user": user, "role": role, "organisation": fact.get("by_organisation")}


FAMILY_ROLES = ("parent", "young_person")


def _reader(read: dict[str, Any], r: _Redactions) -> dict[str, Any]:
    """Who looked: staff by role and organisation (their user id as the policy says); a family member by their role
    only (their id at their identity provider is nothing the family needs, and may be another family member's)."""
    user, role = read.get("user_id"), read.get("role")
    if role in FAMILY_ROLES:
        user = None
    elif user and r.policy.staff_names == "redact":
        r.counts["staff"] += 1
        user = REDACTED_STAFF
    return {"user": user, "role": role, "organisation": read.get("organisation")}


def assemble(
    pupil_id: Any,
    pages: dict[str, list[HeldPage]],
    policy: SubjectAccessPolicy,
    *,
    request: RequestDetails,
    produced_at: datetime,
    produced_by: dict[str, str],
    la_code: str,
    reads: dict[str, list[ReadsPage]] | None = None,
) -> dict[str, Any]:
    """The export (plain JSON-ready data): a cover, then per service the records as they stand, the people
    with parental responsibility, every message to the family, the full history and who looked at the records (each
    service's read log), redacted per policy."""
    r = _Redactions(policy)
    raw: dict[str, dict[str, Any]] = {}
    order = list(SERVICES)  # the register first, then the others as a family would look for them
    for service, answers in sorted(pages.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0])):
        raw[service] = {
            "erased": any(p.erased for p in answers),
            "records": [rec.model_dump(mode="json") for p in answers for rec in p.records],
            "facts": [f.model_dump(mode="json") for p in answers for f in p.facts],
        }
    # whom the policy withholds: staff (their user ids) and people named (their names)
    for part in raw.values():
        for fact in part["facts"]:
            if (
                fact.get("by_user")
                and fact.get("by_role") not in ("system", *FAMILY_ROLES)
                and policy.staff_names == "redact"
            ):
                r.staff.add(fact["by_user"])
        for person in _people_in([part["records"], part["facts"]]):
            name = person.get("name")
            if not _shown(person, policy) and isinstance(name, str) and name not in (ERASED, REDACTED_PERSON):
                r.people[str(person["person_id"])] = name
    if policy.staff_names == "redact" and produced_by.get("user"):
        r.staff.add(produced_by["user"])
        produced_by = {**produced_by, "user": REDACTED_STAFF}

    services = []
    child: dict[str, Any] = {}
    erased_on: Any = None
    erased = False
    for service, part in raw.items():
        erased = erased or part["erased"]
        facts = sorted(part["facts"], key=lambda f: f["position"])
        by_record: dict[str, list[dict[str, Any]]] = {}
        for fact in facts:
            by_record.setdefault(fact["record_id"], []).append(fact)
        records, messages = [], []
        for record in part["records"]:
            state = _redact_people(record["as_it_stands"], r)
            if "given_name" in state and "family_name" in state and not child:
                child = {k: state.get(k) for k in ("given_name", "family_name", "upn", "date_of_birth", "school_urn")}
            erased_on = erased_on or state.get("erased_on")
            if record["shown_as"] == "message":
                messages.append(_message(record, state, by_record.get(record["record_id"], []), r))
            else:
                records.append({**record, "as_it_stands": state})
        history = [
            {
                "position": f["position"],
                "recorded_at": f["recorded_at"],
                "record_kind": f["record_kind"],
                "record_id": f["record_id"],
                "what": f["what"],
                "by": _by(f, r),
                "details": _redact_people(f["details"], r),
            }
            for f in facts
        ]
        people: dict[str, dict[str, Any]] = {}
        for person in _people_in([records, history]):
            if person.get("has_parental_responsibility"):
                people[str(person["person_id"])] = person  # the latest recorded, as the history runs in order
        for record in records:  # as they stand now, over anything said of them earlier
            for person in _people_in(record["as_it_stands"]):
                if person.get("has_parental_responsibility"):
                    people[str(person["person_id"])] = person
        looked = [
            {
                "at": read.read_at.isoformat(),
                "what": read.query,
                "by": _reader(read.model_dump(mode="json"), r),
                "outcome": read.outcome,
            }
            for page in (reads or {}).get(service, [])
            for read in page.reads
        ]
        services.append(
            {
                "service": service,
                "title": SERVICES.get(service, (service, ""))[0],
                "about": SERVICES.get(service, ("", ""))[1],
                "erased": part["erased"],
                "records": records,
                "people_with_parental_responsibility": list(people.values()),
                "messages": messages,
                "history": history,
                "reads": looked,
            }
        )
    withheld = json.dumps(services).count(json.dumps(WITHHELD))
    return {
        "title": "Subject access request: the information we hold about a child",
        "pupil_id": str(pupil_id),
        "child": child,
        "local_authority": f"la:{la_code}",
        "request": {
            "reference": request.reference,
            "requester": request.requester,
            "requester_in_words": REQUESTERS.get(request.requester, request.requester),
            "received_on": request.received_on.isoformat(),
            "respond_by": request.respond_by.isoformat(),
            "exports_made": request.exports_made,
        },
        "produced": {"at": produced_at.isoformat(), **produced_by},
        "legal_basis": LEGAL_BASIS,
        "time_limit": TIME_LIMIT,
        "your_rights": YOUR_RIGHTS,
        "erased": erased,
        "erased_on": erased_on,
        "nothing_held": not any(s["history"] for s in services),
        "policy": policy.model_dump(),
        "redactions": {
            "staff_names": r.counts["staff"],
            "third_party": r.counts["third_party"],
            "withheld": withheld,
        },
        "services": services,
    }


def _message(
    record: dict[str, Any], state: dict[str, Any], facts: list[dict[str, Any]], r: _Redactions
) -> dict[str, Any]:
    """A message sent to the family, from its record as it stands and its facts (sent, delivered...)."""
    recipient = state.get("recipient") or {}
    content = state.get("content") or {}
    steps = [
        {
            "what": f["what"],
            "at": f["recorded_at"],
            "channel": f["details"].get("channel"),
            "detail": _redact_people(f["details"].get("reason") or f["details"].get("evidence"), r),
        }
        for f in facts
    ]
    first = {s["what"]: s["at"] for s in reversed(steps)}
    return {
        "record_id": record["record_id"],
        "duty": state.get("duty"),
        "to": recipient.get("name") or "nobody recorded",
        "relationship": recipient.get("relationship"),
        "has_parental_responsibility": recipient.get("has_parental_responsibility"),
        "channel": state.get("channel"),
        "owed_since": state.get("owed_since"),
        "sent_at": first.get("Sent"),
        "delivered_at": first.get("Delivered"),
        "outcome": state.get("status"),
        "outcome_in_words": OUTCOMES.get(state.get("status") or "", state.get("status")),
        "reason": state.get("reason"),
        "unreachable_channels": state.get("unreachable") or [],
        "subject": content.get("subject"),
        "body": content.get("body"),
        "text_message": content.get("sms"),
        "steps": steps,
    }


def to_json(export: dict[str, Any]) -> str:
    return json.dumps(export, indent=2, ensure_ascii=False, default=str)


# ---------------------------------------------------------------------------------------------------------
# HTML

_ACRONYMS = {
    "senco": "SENCO",
    "sen": "SEN",
    "ehc": "EHC",
    "upn": "UPN",
    "urn": "URN",
    "pep": "PEP",
    "eal": "EAL",
    "la": "LA",
}
_LABELS = {
    "upn": "UPN",
    "school_urn": "School (URN)",
    "eal": "English as an additional language",
    "pep_reference": "Personal education plan reference",
    "people": "People with parental responsibility and others to tell",
    "people_ever": "Everyone ever named (ids)",
    "people_to_tell": "People to tell",
    "on_monitoring_list": "On the monitoring (cause for concern) list",
}


def label(name: str) -> str:
    """A field or fact name in words: "date_of_birth" -> "Date of birth", "AddedToSenSupport" -> "Added to
    SEN support"."""
    if name in _LABELS:
        return _LABELS[name]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().split("_")
    words = [_ACRONYMS.get(w, w) for w in words if w]
    if not words:
        return name
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _when(value: Any) -> str:
    if not value:
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(LONDON).strftime("%-d %B %Y, %H:%M")
    if isinstance(value, date):
        return value.strftime("%-d %B %Y")
    return str(value)


_MARKED = re.compile(r"(\[(?:erased|withheld|redacted: [a-z ]+)\])")


def _text(value: Any) -> str:
    """A value as escaped HTML, each "[erased]", "[withheld]" or "[redacted: ...]" marked."""
    if value is None:
        return '<span class="none">-</span>'
    if isinstance(value, bool):
        return "Yes" if value else "No"
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.+\-Z]+)?", text):
        text = _when(text)
    escaped = html.escape(text)
    return _MARKED.sub(r'<mark class="gone">\1</mark>', escaped).replace("\n", "<br>")


def _value(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return '<span class="none">-</span>'
        rows = "".join(f"<tr><th>{html.escape(label(k))}</th><td>{_value(v)}</td></tr>" for k, v in value.items())
        return f'<table class="inner">{rows}</table>'
    if isinstance(value, list):
        if not value:
            return '<span class="none">none</span>'
        return "<ul>" + "".join(f"<li>{_value(v)}</li>" for v in value) + "</ul>"
    return _text(value)


def _fields(values: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(label(k))}</th><td>{_value(v)}</td></tr>" for k, v in values.items())
    return f'<table class="fields">{rows}</table>'


def _by_html(by: dict[str, Any]) -> str:
    parts = [p for p in (by.get("role"), by.get("organisation")) if p]
    who = _text(by.get("user")) if by.get("user") else ""
    return (
        f"{who}<br><small>{html.escape(', '.join(label(str(p)) if p == by.get('role') else p for p in parts))}</small>"
    )


_CSS = """
body { font-family: Arial, Helvetica, sans-serif; font-size: 11pt; color: #0b0c0c; max-width: 60em; margin: 2em auto;
       line-height: 1.4; }
h1 { font-size: 20pt; } h2 { font-size: 16pt; border-top: 3px solid #1d70b8; padding-top: .5em; margin-top: 2em; }
h3 { font-size: 13pt; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #b1b4b6; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f3f2f1; font-weight: bold; width: 14em; }
table.history th { width: auto; } table.inner { margin: 0; } table.inner th { width: 10em; font-weight: normal; }
.cover { border: 2px solid #0b0c0c; padding: 1em 1.5em; page-break-after: always; }
mark.gone { background: #fff2cc; padding: 0 .2em; }
.none { color: #6f777b; } small { color: #505a5f; }
.message { border: 1px solid #b1b4b6; padding: .5em 1em; margin: 1em 0; page-break-inside: avoid; }
.body { white-space: pre-wrap; font-family: Georgia, serif; background: #f8f8f8; padding: .5em 1em; }
.notice { background: #fff2cc; border-left: 6px solid #ffdd00; padding: .5em 1em; }
@media print { body { margin: 0; } }
"""


def to_html(export: dict[str, Any]) -> str:
    """The export as one self-contained HTML document: a cover page, then each service's part."""
    e = export
    child = e["child"]
    name = " ".join(str(child.get(k)) for k in ("given_name", "family_name") if child.get(k)) or "the child"
    req = e["request"]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en-GB"><head><meta charset="utf-8">',
        f"<title>{html.escape(e['title'])}: {html.escape(req['reference'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        '<section class="cover">',
        f"<h1>{html.escape(e['title'])}</h1>",
        f"<p>Our reference: <strong>{html.escape(req['reference'])}</strong></p>",
    ]
    cover = {
        "About": _text(name),
        "UPN": _text(child.get("upn")),
        "Date of birth": _text(child.get("date_of_birth")),
        "Our id for the child": html.escape(e["pupil_id"]),
        "Asked for by": html.escape(req["requester_in_words"]),
        "Request received": _text(req["received_on"]),
        "We must answer by": _text(req["respond_by"]),
        "This copy made": _text(e["produced"]["at"]),
        "Made by": _by_html(e["produced"]),
        "Local authority": html.escape(e["local_authority"]),
    }
    out.append(
        '<table class="fields">'
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in cover.items())
        + "</table>"
    )
    out += [
        "<h3>Why you have this</h3>",
        f"<p>{html.escape(e['legal_basis'])}</p>",
        "<h3>When we must answer</h3>",
        f"<p>{html.escape(e['time_limit'])}</p>",
        "<h3>What it covers</h3><ul>",
    ]
    for s in e["services"]:
        count = f"{len(s['history'])} recorded facts, {len(s['messages'])} messages, {len(s.get('reads', []))} looks"
        out.append(f"<li><strong>{html.escape(s['title'])}</strong>: {html.escape(s['about'])} ({count})</li>")
    out.append("</ul>")
    if e["nothing_held"]:
        out.append('<p class="notice">We hold no information about this child in these records.</p>')
    if e["erased"]:
        out.append(
            '<p class="notice">The child\'s personal data was erased'
            + (f" on {_text(e['erased_on'])}" if e.get("erased_on") else "")
            + ", under our retention schedule. What remains are the facts we must keep (dates, statuses, "
            'decisions); <mark class="gone">[erased]</mark> shows each place where personal data was.</p>'
        )
    red = e["redactions"]
    out += [
        "<h3>Other people's information</h3>",
        "<p>Where these records name other people, we have removed their personal information where the law "
        "requires (UK GDPR Article 15(4); Data Protection Act 2018, Schedule 2, Part 3, paragraph 16), and "
        "marked each place:</p><ul>",
        f'<li><mark class="gone">{html.escape(REDACTED_STAFF)}</mark>: a member of staff, shown by their role '
        f"and organisation ({red['staff_names']} places)</li>"
        if e["policy"]["staff_names"] == "redact"
        else "<li>Staff are shown by name, role and organisation.</li>",
        f'<li><mark class="gone">{html.escape(REDACTED_PERSON)}</mark>: another person named in the records '
        f"({red['third_party']} places)</li>",
        f'<li><mark class="gone">{html.escape(WITHHELD)}</mark>: information we never disclose, because doing '
        f"so could put the child at risk, such as the address of a child looked after ({red['withheld']} places)"
        "</li></ul>",
        "<h3>Your other rights</h3>",
        f"<p>{html.escape(e['your_rights'])}</p>",
        "</section>",
    ]
    for s in e["services"]:
        out.append(f"<h2>{html.escape(s['title'])}</h2><p>{html.escape(s['about'])}</p>")
        if not s["history"]:
            out.append("<p>Nothing is held about the child here.</p>")
            continue
        if s["records"]:
            out.append("<h3>The record as it stands</h3>")
            for rec in s["records"]:
                out.append(
                    f"<p><strong>{html.escape(label(rec['record_kind']))}</strong>, first recorded "
                    f"{_text(rec['first_recorded_at'])}, last changed {_text(rec['last_changed_at'])}</p>"
                )
                out.append(_fields(rec["as_it_stands"]))
        if s["people_with_parental_responsibility"]:
            out.append("<h3>People with parental responsibility we were told of</h3>")
            for person in s["people_with_parental_responsibility"]:
                out.append(_fields({k: v for k, v in person.items() if k != "has_parental_responsibility"}))
        if s["messages"]:
            out.append("<h3>Messages to the family about the child</h3>")
            for m in s["messages"]:
                out.append('<div class="message">')
                out.append(
                    _fields(
                        {
                            "to": f"{m['to']} ({m['relationship']})" if m.get("relationship") else m["to"],
                            "about": label(m["duty"] or ""),
                            "owed since": m["owed_since"],
                            "channel": m["channel"],
                            "sent": m["sent_at"],
                            "delivered": m["delivered_at"],
                            "outcome": m["outcome_in_words"],
                            "why": m["reason"],
                            "subject": m["subject"],
                        }
                    )
                )
                if m.get("body"):
                    out.append(f'<div class="body">{_text(m["body"])}</div>')
                if m["steps"]:
                    out.append(
                        "<p><small>"
                        + "; ".join(
                            f"{html.escape(label(st['what']))} {_text(st['at'])}"
                            + (f" ({html.escape(str(st['channel']))})" if st.get("channel") else "")
                            for st in m["steps"]
                        )
                        + "</small></p>"
                    )
                out.append("</div>")
        out.append("<h3>Everything recorded, when and by whom</h3>")
        out.append(
            '<table class="history"><tr><th>Recorded</th><th>What</th><th>By</th><th>Details</th></tr>'
            + "".join(
                f"<tr><td>{_text(h['recorded_at'])}</td><td>{html.escape(label(h['what']))}<br><small>"
                f"{html.escape(label(h['record_kind']))}</small></td><td>{_by_html(h['by'])}</td>"
                f"<td>{_value(h['details'])}</td></tr>"
                for h in s["history"]
            )
            + "</table>"
        )
        if s.get("reads"):
            out.append("<h3>Who has looked at these records</h3>")
            out.append(
                "<p>Every time someone looked at the child's records here, or was refused, it was recorded: when, "
                "what they looked at, and who (by role and organisation).</p>"
            )
            out.append(
                '<table class="history"><tr><th>When</th><th>What</th><th>By</th><th>Shown</th></tr>'
                + "".join(
                    f"<tr><td>{_text(rd['at'])}</td><td>{html.escape(label(rd['what'].split('.', 1)[-1]))}</td>"
                    f"<td>{_by_html(rd['by'])}</td><td>{'yes' if rd['outcome'] == 'read' else 'no: refused'}</td></tr>"
                    for rd in s["reads"]
                )
                + "</table>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
