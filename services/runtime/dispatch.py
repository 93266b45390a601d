"""Choosing what to do with an event by its class, declared once per use.

    describe = EventDispatch[str]("what happened")

    @describe.on(Pupil.AddedToSenSupport)
    def _(event) -> str: ...

    describe(event)  # the function for the event's class (or its nearest base), else None

Translation, projections and histories all select events this way: by the class, never by its name as
a string, so renaming an event class breaks loudly at import, not silently at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class EventDispatch(Generic[T]):
    def __init__(self, purpose: str) -> None:
        self.purpose = purpose
        self._by_class: dict[type, Callable[..., T]] = {}
        self._found: dict[type, Callable[..., T] | None] = {}  # by an event's own class (read models ask often)

    def on(self, *event_classes: type) -> Callable[[F], F]:
        """Register the decorated function for each of these event classes."""

        def register(function: F) -> F:
            for cls in event_classes:
                if cls in self._by_class:
                    raise TypeError(f"{self.purpose}: {cls.__qualname__} is handled twice")
                self._by_class[cls] = function
            self._found.clear()
            return function

        return register

    def handler(self, event: Any) -> Callable[..., T] | None:
        kind = type(event)
        try:
            return self._found[kind]
        except KeyError:
            pass
        found = next((f for f in map(self._by_class.get, kind.__mro__) if f is not None), None)
        self._found[kind] = found
        return found

    def handles(self, event: Any) -> bool:
        return self.handler(event) is not None

    def __call__(self, event: Any, *args: Any, **kwargs: Any) -> T | None:
        found = self.handler(event)
        return None if found is None else found(event, *args, **kwargs)

    @property
    def event_classes(self) -> tuple[type, ...]:
        return tuple(self._by_class)
