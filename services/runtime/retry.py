"""How long to wait before trying again: one policy object for every retry in sendcase.

Used by the tracked consumer (a failed event is redelivered after `after(attempt)`), the outbox relay and
the supervisor of background loops (a failed publish, a crashed loop), and the notifications delivery
worker (a failed send).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """The delays before each retry, in seconds; after the last, the last one again."""

    delays: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.delays or any(d < 0 for d in self.delays):
            raise ValueError("a backoff needs one or more delays, none negative")

    @classmethod
    def of(cls, delays: Sequence[float]) -> Backoff:
        return cls(tuple(delays) or (1.0,))

    @classmethod
    def doubling(cls, first: float, longest: float) -> Backoff:
        """first, 2 x first, 4 x first, ... up to `longest`, then `longest` again."""
        delays = [first]
        while delays[-1] * 2 < longest:
            delays.append(delays[-1] * 2)
        return cls((*delays, longest))

    def after(self, failures: int) -> float:
        """The delay after `failures` failures in a row (1 for the first)."""
        return self.delays[min(max(failures, 1), len(self.delays)) - 1]

    @property
    def longest(self) -> float:
        return self.delays[-1]
