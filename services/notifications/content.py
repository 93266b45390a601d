"""Content people can act on: one Jinja2 template per duty, rendered from the facts the event carried.

Every template says what happened, what it means, what the reader can do next and by when, and who to
contact. The rendered subject, body and SMS text are hashed (sha256 of their canonical JSON) so that an
auditor can prove exactly what was sent. Templates use StrictUndefined: a fact a template needs and the
event lacks is an error (retried, then dead-lettered for a person), never a letter with a blank in it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined

from contracts.identifiers import NeedType

TEMPLATES = Path(__file__).parent / "templates"


def long_date(value: str | date) -> str:
    """'2026-12-11' -> 'Friday 11 December 2026': a date nobody can misread."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # names the missing fact
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{d:%A} {d.day} {d:%B %Y}"


def need(value: str) -> str:
    return f"{NeedType(value).in_words} ({value})"


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["long_date"] = long_date
_env.filters["need"] = need


@dataclass(frozen=True)
class Content:
    template: str
    subject: str
    body: str
    sms: str
    content_hash: str


def content_hash(subject: str, body: str, sms: str) -> str:
    canonical = json.dumps({"subject": subject, "body": body, "sms": sms}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def render(template_name: str, facts: dict[str, Any], recipient: dict[str, Any], reference: str) -> Content:
    template = _env.get_template(f"{template_name}.j2")
    values = {**facts, "recipient": recipient, "reference": reference}

    def block(name: str) -> str:
        return " ".join("".join(template.blocks[name](template.new_context(values))).split())

    subject = block("subject")
    subject = subject[:1].upper() + subject[1:]  # "your child's final EHC plan" -> "Your child's..."
    body = template.render(values).strip() + "\n"
    sms = block("sms")
    return Content(template_name, subject, body, sms, content_hash(subject, body, sms))
