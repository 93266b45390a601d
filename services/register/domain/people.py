"""Which children's records name a person (a parent, a carer): so a person named on several records is erased
only when no record that must still be kept names them (docs/audit.md).

One aggregate per person, keyed by their id; it holds ids only (nothing personal), and is changed in the same
transaction as the record that names the person or is erased.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from contracts.envelope import derived_id
from services.runtime.aggregate import Aggregate


class PersonLinks(Aggregate):
    if TYPE_CHECKING:  # made by the @event decorators below; named here so type checkers know them
        Started: ClassVar[type[Any]]
        Named: ClassVar[type[Any]]
        RecordErased: ClassVar[type[Any]]

    @staticmethod
    def create_id(person_id: UUID | str, **_: Any) -> UUID:
        return derived_id("person-links", person_id)

    @event("Started")
    def __init__(self, person_id: UUID | str, pupil_id: UUID | str) -> None:
        self.person_id = str(person_id)
        self.kept_by: list[str] = [str(pupil_id)]  # the records (pupil ids) naming this person, not erased

    def named_on(self, pupil_id: UUID) -> None:
        if str(pupil_id) not in self.kept_by:
            self._named(pupil_id=str(pupil_id))

    @event("Named")
    def _named(self, pupil_id: str) -> None:
        self.kept_by = [*self.kept_by, pupil_id]

    def record_erased(self, pupil_id: UUID) -> None:
        if str(pupil_id) in self.kept_by:
            self._record_erased(pupil_id=str(pupil_id))

    @event("RecordErased")
    def _record_erased(self, pupil_id: str) -> None:
        self.kept_by = [p for p in self.kept_by if p != pupil_id]
