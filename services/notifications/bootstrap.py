"""The notifications service's composition root."""

from __future__ import annotations

import asyncpg

from services.notifications.application import Notifications
from services.notifications.entrypoints import routes
from services.notifications.policies import REACTIONS
from services.notifications.projections import NotificationsByPupil
from services.notifications.translation import SERVICE, translate
from services.runtime.clock import Clock
from services.runtime.eventstore import EventStore, postgres_env
from services.runtime.service import Reaction, ServiceDefinition
from services.runtime.settings import ServiceSettings


def bootstrap(settings: ServiceSettings, clock: Clock, env: dict[str, str] | None = None) -> ServiceDefinition:
    app = Notifications(env=env if env is not None else postgres_env(settings.database_url or ""))
    store = EventStore(app, threads=settings.event_store_threads)
    pools: list[asyncpg.Pool] = []
    return ServiceDefinition(
        name=SERVICE,
        settings=settings,
        clock=clock,
        store=store,
        translate=translate,
        queries=routes(lambda: pools[0]),
        reactions=[Reaction(name, types, react) for name, (types, react) in REACTIONS.items()],
        projections=[NotificationsByPupil()],
        on_pool=[pools.append],
    )
