"""`access_grants`: who, besides staff, may see each pupil's record now (`register_access_grants`): the parents and
young people who accepted an invitation (domain/invitation.py), until their access is ended or the record erased.

Read by `MyChildren` (the children a signed-in parent or young person may see). Holds a family member's user id at
their identity provider in the clear, as a read model holds what its queries need: the row goes when the grant ends,
and every row of a pupil goes with the pupil's erasure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.register.domain.pupil import Pupil
from services.runtime.access import Grant


class AccessGrantsView:
    name = "access_grants"

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS register_access_grants (
                grant_id      uuid PRIMARY KEY,
                pupil_id      uuid NOT NULL,
                user_id       text NOT NULL,
                role          text NOT NULL,
                relationship  text NOT NULL,
                person_id     uuid,
                granted_on    date NOT NULL,
                log_position  bigint NOT NULL
            );
            CREATE INDEX IF NOT EXISTS register_access_grants_user ON register_access_grants (user_id, role);
            CREATE INDEX IF NOT EXISTS register_access_grants_pupil ON register_access_grants (pupil_id);
            """
        )

    async def clear(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE register_access_grants")

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[tuple[Any, int]]) -> None:
        """Few events a log are grants: applied one at a time, in order (the rows one at a time gives)."""
        for event, position in events:
            if isinstance(event, Pupil.AccessGranted):
                grant = Grant.from_dict(event.grant)
                await conn.execute(
                    """INSERT INTO register_access_grants
                           (grant_id, pupil_id, user_id, role, relationship, person_id, granted_on, log_position)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (grant_id) DO NOTHING""",
                    grant.grant_id,
                    event.originator_id,
                    grant.user_id,
                    grant.role.value,
                    grant.relationship,
                    grant.person_id,
                    grant.granted_on,
                    position,
                )
            elif isinstance(event, Pupil.AccessRevoked):
                await conn.execute("DELETE FROM register_access_grants WHERE grant_id = $1", event.grant_id)
            elif isinstance(event, Pupil.Erased):
                await conn.execute("DELETE FROM register_access_grants WHERE pupil_id = $1", event.originator_id)
