"""The register's composition root: settings in, a runnable service out. Tests override the parts."""

from __future__ import annotations

from services.register.application import Register
from services.register.domain.retention import ScheduleError, load_schedule
from services.register.entrypoints import ROUTES
from services.register.policies import REACTIONS
from services.register.projections import AccessGrantsView, PupilHistoryView, RegisterViews
from services.register.queries import RegisterQueries
from services.register.retention import RetentionJob
from services.register.settings import RegisterSettings
from services.register.translation import SERVICE, translate
from services.runtime.clock import Clock
from services.runtime.eventstore import open_store
from services.runtime.service import ServiceDefinition
from services.runtime.settings import ServiceSettings


def bootstrap(settings: ServiceSettings, clock: Clock, env: dict[str, str] | None = None) -> ServiceDefinition:
    settings = RegisterSettings.of(settings)
    # The LA's retention schedule, read (and refused, naming the line at fault) before anything is opened.
    schedule = load_schedule(settings.retention_schedule)
    la = settings.local_authority_code
    if schedule.local_authority is not None and la != "000" and schedule.local_authority != la:
        raise ScheduleError(
            f"retention schedule {schedule.source} is LA {schedule.local_authority}'s ({schedule.name}), but this "
            f"deployment serves LA {la} (SENDCASE_LOCAL_AUTHORITY_CODE): point SENDCASE_REGISTER_RETENTION_SCHEDULE "
            "at this LA's own file"
        )
    store = open_store(
        Register, settings.database_url, settings.event_store_threads, env, pre_ping=settings.database_pre_ping
    )
    store.app.parents_of_young_people = settings.parents_of_young_people
    return ServiceDefinition(
        name=SERVICE,
        settings=settings,
        clock=clock,
        store=store,
        translate=translate,
        routes=ROUTES,
        read_side=lambda read_models: RegisterQueries(read_models, store, schedule),
        reactions=REACTIONS,
        projections=[RegisterViews(), PupilHistoryView(), AccessGrantsView()],
        workers=[RetentionJob(store, clock, schedule, settings)],
    )
