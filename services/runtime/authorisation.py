"""Who may do what, where the runtime decides it for every service alike (docs/security.md, "Inside the services").

Most rules are a service's own, in its domain (a SENCO changes their own school's records; register/domain/rules.py).
These few hold for every service, so they are decided once, here, and no service can forget them:

- an auditor reads everything and changes nothing: every command from an actor in role auditor is refused by the
  endpoint (services/runtime/endpoints.py) before any service's code runs;
- a parent, a young person or an outside professional reads only what they were granted (services/runtime/access.py):
  a service's read rules ask `reads_by_grant` and check the grants it holds.
"""

from __future__ import annotations

from contracts.envelope import Actor, Role
from services.runtime.errors import NotAuthorised

# Roles that change nothing, whatever the service: their commands are refused at the door.
READ_ONLY_ROLES = frozenset({Role.AUDITOR})


def check_may_change(actor: Actor) -> None:
    """Every command, in every service, passes here first."""
    if actor.role in READ_ONLY_ROLES:
        raise NotAuthorised(
            "An auditor reads everything and changes nothing: this would change a record, so it was refused. "
            "Ask the people who keep the record (the school's SENCO, or the LA's caseworkers) to make the change.",
            rule="auditors_change_nothing",
        )
