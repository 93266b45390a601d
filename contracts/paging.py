"""Paging: every answer fits in one NATS message (1 MB), so a list that grows with the LA is answered a page at
a time.

A paged query carries `page_size` (how many items at most; bounded: a larger one is refused as invalid) and
`after` (None for the first page; else the `next_after` of the page before, an opaque cursor). Its answer
carries `next_after`: None on the last page. Pages come in a stable order (each query says which), every item
exactly once: the cursor holds the last item's sort key, so an item added or changed between pages is neither
repeated nor lost unless its own sort key moved. A cursor also pins what the first page decided (e.g. the date
`as_at` defaulted to), so later pages answer the same question.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

CURSOR_MAX_LENGTH = 1024


def page_size(default: int, most: int) -> Any:
    """A query's page_size field: `default` when not given, never more than `most`."""
    return Field(default=default, ge=1, le=most, description=f"items per page, at most {most}")


def cursor() -> Any:
    """A query's `after` field: the `next_after` of the previous page (opaque), or None for the first."""
    return Field(
        default=None,
        min_length=1,
        max_length=CURSOR_MAX_LENGTH,
        pattern=r"^[A-Za-z0-9_=-]+$",
        description="next_after of the previous page; none for the first page",
    )
