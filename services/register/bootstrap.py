"""The register's composition root: settings in, a runnable service out. Tests override the parts."""

from __future__ import annotations

from services.register.application import Register
from services.register.entrypoints import ROUTES
from services.register.policies import REACTIONS
from services.register.projections import PupilHistoryView, RegisterViews
from services.register.queries import RegisterQueries
from services.register.translation import SERVICE, translate
from services.runtime.clock import Clock
from services.runtime.eventstore import open_store
from services.runtime.service import ServiceDefinition
from services.runtime.settings import ServiceSettings


def bootstrap(settings: ServiceSettings, clock: Clock, env: dict[str, str] | None = None) -> ServiceDefinition:
    store = open_store(
        Register, settings.database_url, settings.event_store_threads, env, pre_ping=settings.database_pre_ping
    )
    return ServiceDefinition(
        name=SERVICE,
        settings=settings,
        clock=clock,
        store=store,
        translate=translate,
        routes=ROUTES,
        read_side=lambda read_models: RegisterQueries(read_models, store),
        reactions=REACTIONS,
        projections=[RegisterViews(), PupilHistoryView()],
    )
