"""Time, passed in. Code never reads the wall clock directly, so tests and replays are deterministic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

ENGLAND = ZoneInfo("Europe/London")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


def today_in_england(when: Clock | datetime) -> date:
    """The date in England at an instant (or a clock's now): statutory dates are dates in England, not UTC
    dates (late on 31 March BST is still 31 March). The one place "today" is worked out."""
    instant = when if isinstance(when, datetime) else when.now()
    return instant.astimezone(ENGLAND).date()


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved: for tests and for replaying a past day."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at
