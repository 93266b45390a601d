"""Domain errors: a broken rule, explained in words a SENCO or caseworker understands.

Aggregates and applications raise these; the command endpoint turns each into a rejected reply and
nothing is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """A business rule says no. `rule` is a stable machine name, `message` is for a person."""

    rule: str = "rule_broken"

    def __init__(self, message: str, *, rule: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if rule is not None:
            self.rule = rule
        self.field = field  # the request field at fault, where there is one


class NotAuthorised(DomainError):
    rule = "not_authorised"


class RefusedAndRecorded(DomainError):
    """A refusal that is itself a fact to keep (a wrong invitation code: wrong codes entered by one person lock them
    out for a while). The command is refused with this message, and the changes of the aggregates in `record`, and
    only those, are stored (services/runtime/commands.py, routes.py); a command refused so keeps no receipt, so
    sending it again is judged again."""

    def __init__(
        self, message: str, *, record: Sequence[Any], rule: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, rule=rule, field=field)
        self.record = list(record)


class NotFound(DomainError):
    rule = "not_found"


class Conflict(DomainError):
    """The record changed under the command each time it was tried (another replica, at the same moment)."""

    rule = "conflict"


class ServiceStopping(Conflict):
    """The service stopped before the command was done: nothing was changed; sending it again (with the same
    command id) is safe."""

    rule = "service_stopping"


class ConfigurationError(ValueError):
    """A service cannot start with the configuration it was given (a setting, a file): the message says which
    and what is wrong, for `sendcase serve` to print as one line."""
