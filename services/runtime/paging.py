"""Cursors for paged queries (contracts/paging.py): opaque to the client, plain to the service.

A cursor is the last item's sort key, and whatever the first page pinned (e.g. the date a register was read
as at), as compact JSON in URL-safe base64. It grants nothing: who may read what is checked on every page from
the query and the actor, never from the cursor; a cursor that does not decode, or that belongs to another
question, is refused (`invalid_cursor`), never guessed at.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from services.runtime.errors import DomainError


def encode_cursor(**values: Any) -> str:
    text = json.dumps(values, separators=(",", ":"), sort_keys=True, default=str)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(after: str | None, *, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The values `encode_cursor` was given (None for the first page); each of `keys` must be there."""
    if after is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, dict) or any(k not in values for k in keys):
        raise invalid_cursor()
    return values


def invalid_cursor(why: str = "it is not the next_after of a page of this query") -> DomainError:
    return DomainError(
        f"The page cursor `after` cannot be used: {why}. Ask for the first page again (without `after`).",
        rule="invalid_cursor",
        field="query.after",
    )
