"""structlog, configured once per process: JSON lines in production, readable in a terminal.

Every line carries the service name; the endpoints and consumers bind the correlation id and message id
for the duration of one message (structlog contextvars).

Logs carry ids, never personal data: tracebacks are printed without local variables; values under keys
that name personal data are replaced; e-mail addresses, phone numbers, postcodes and pydantic's echo of an
input are masked wherever they appear, tracebacks included (`redact_personal_data`). Code logs rule names
and ids, not the words of a refusal (those name the child).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# Keys whose values are personal data wherever they appear in a log line.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "given_name",
        "family_name",
        "child_name",
        "recipient",
        "recipients",
        "to",
        "email",
        "mobile",
        "phone",
        "address",
        "postal_address",
        "protected_address",
        "lines",
        "town",
        "postcode",
        "date_of_birth",
        "body",
        "sms",
        "subject",
        "note",
        "reason_text",
        "people",
        "people_to_tell",
        "given_by_name",
    }
)
REDACTED = "[redacted]"
_MASKS = [
    (re.compile(r"(?<=://)([^:/@\s,]*):[^@\s,]*@"), r"\1:***@"),  # a password in a URL (nats://user:pw@host)
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<![\w-])(\+44\s?7\d{3}|\(?07\d{3}\)?)\s?\d{3}\s?\d{3}(?!\d)"), "[phone]"),
    (re.compile(r"\b(?:0\d{2,4}\s?\d{3,4}\s?\d{3,4})\b"), "[phone]"),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"), "[postcode]"),
    (re.compile(r"input_value=(?:'[^']*'|\"[^\"]*\"|\S+)"), "input_value=[redacted]"),
]


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: REDACTED if k in PERSONAL_KEYS else _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def redact_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: no personal data leaves in a log line (see the module's docstring)."""
    for key, value in list(event_dict.items()):
        if key in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(value, str | dict | list | tuple):
            event_dict[key] = _redacted(value)
    return event_dict


def configure_logging(service: str, fmt: str = "console", level: str = "INFO", file: TextIO | None = None) -> None:
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty() and file is None,
            exception_formatter=structlog.dev.plain_traceback,  # never a traceback's local variables
        )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,  # the traceback as text, so that it is redacted too
            redact_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=file or sys.stderr),
        cache_logger_on_first_use=file is None,  # a test that points the logs at a buffer may do so again
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries that log through the standard library (faststream, nats, eventsourcing) go to stderr too,
    # quieter than ours.
    handler = logging.StreamHandler(file or sys.stderr)
    handler.addFilter(_RedactRecord())
    logging.basicConfig(handlers=[handler], level=max(numeric, logging.WARNING), force=True)


class _RedactRecord(logging.Filter):
    """The same masking for what libraries log through the standard library (faststream, nats, asyncpg)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
