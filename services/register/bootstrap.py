"""The register's composition root: settings in, a runnable service out. Tests override the parts."""

from __future__ import annotations

import asyncpg

from services.register.application import Register
from services.register.entrypoints import routes
from services.register.policies import REACTIONS
from services.register.projections import PupilHistoryView, RegisterViews
from services.register.translation import SERVICE, translate
from services.runtime.clock import Clock
from services.runtime.eventstore import EventStore, postgres_env
from services.runtime.service import Reaction, ServiceDefinition
from services.runtime.settings import ServiceSettings


def bootstrap(settings: ServiceSettings, clock: Clock, env: dict[str, str] | None = None) -> ServiceDefinition:
    app = Register(env=env if env is not None else postgres_env(settings.database_url or ""))
    store = EventStore(app, threads=settings.event_store_threads)
    pools: list[asyncpg.Pool] = []
    commands, queries = routes(store, lambda: pools[0])
    return ServiceDefinition(
        name=SERVICE, settings=settings, clock=clock, store=store, translate=translate,
        commands=commands, queries=queries,
        reactions=[Reaction(name, types, react) for name, (types, react) in REACTIONS.items()],
        projections=[RegisterViews(), PupilHistoryView()],
        on_pool=[pools.append],
    )
