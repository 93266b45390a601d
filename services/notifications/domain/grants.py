"""Who, besides staff, may read the messages about a child: the grants the granting services published.

The register grants a parent or young person access to a child's record through a verified invitation, and says so
(`register.access_granted`, `register.access_revoked`); the ehcp service will grant professionals the cases they
advise on the same way (contracts/access.py). This service learns them through a tracked consumer
(services/notifications/policies.py), never from another service's tables, and keeps them per child here. An
erasure of the child ends them all.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from contracts.envelope import derived_id
from services.runtime.access import Grant
from services.runtime.aggregate import Aggregate


class ReaderGrants(Aggregate):
    withheld_from_subject_access = frozenset({"user_id"})  # a reader's account id: nothing about the child

    if TYPE_CHECKING:  # made by the @event decorators below; named here so type checkers know them
        Begun: ClassVar[type[Any]]
        Granted: ClassVar[type[Any]]
        Revoked: ClassVar[type[Any]]
        AllEnded: ClassVar[type[Any]]

    @staticmethod
    def create_id(pupil_id: UUID, **_: Any) -> UUID:
        return derived_id("reader-grants", pupil_id)

    @property
    def data_subject(self) -> UUID:
        return self.pupil_id

    @event("Begun")
    def __init__(self, pupil_id: UUID) -> None:
        self.pupil_id = pupil_id
        self.grants: dict[str, dict[str, Any]] = {}  # grant id -> the grant (its user id sealed: personal_fields)

    def standing(self) -> list[Grant]:
        return [Grant.from_dict(g) for g in self.grants.values()]

    def learn(self, grant: Grant) -> None:
        if str(grant.grant_id) not in self.grants:  # told twice (a re-publication): once
            self._granted(grant=grant.to_dict())

    @event("Granted")
    def _granted(self, grant: dict[str, Any]) -> None:
        self.grants = {**self.grants, str(grant["grant_id"]): grant}

    def forget(self, grant_id: UUID, revoked_on: date, reason: str) -> None:
        if str(grant_id) in self.grants:
            self._revoked(grant_id=grant_id, revoked_on=revoked_on, reason=reason)

    @event("Revoked")
    def _revoked(self, grant_id: UUID, revoked_on: date, reason: str) -> None:
        self.grants = {k: v for k, v in self.grants.items() if k != str(grant_id)}

    def end_all(self, ended_on: date, reason: str) -> None:
        if self.grants:
            self._all_ended(ended_on=ended_on, reason=reason)

    @event("AllEnded")
    def _all_ended(self, ended_on: date, reason: str) -> None:
        self.grants = {}
