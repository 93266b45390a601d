"""The register service's settings: the runtime's, plus its retention job. One class, read only in bootstrap, from
SENDCASE_REGISTER_<FIELD> (then SENDCASE_<FIELD>), e.g. SENDCASE_REGISTER_RETENTION_JOB=true.

The retention job (docs/audit.md, "Retention and legal holds"; docs/operations.md) is off unless switched on. It
runs once a day at `retention_run_at` (a time in England), in one replica, and on start when the day's run is
owed (catching up after downtime). The schedule it applies is the LA's file (`retention_schedule`); without one,
the default schedule beside services/register/domain/retention.py.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from services.runtime.settings import ServiceSettings


class RegisterSettings(ServiceSettings):
    service_name: ClassVar[str] = "register"
    service: str = "register"

    # The LA's retention schedule (TOML), e.g. infra/local_authorities/840/retention.toml. None: the default one.
    retention_schedule: Path | None = None
    # The retention job: off by default (`sendcase audit retention --dry-run` first, then switch it on).
    retention_job: bool = False
    retention_run_at: time = time(2, 0)  # each day, England time
    # Erasures the job does at most in one run (the rest the next day, or at once with `--erase`): a bound on
    # what a schedule edited wrongly can do before someone notices. 0: no limit.
    retention_most_per_run: int = Field(default=5000, ge=0)
    # The LA's policy on telling a young person's parents, once the young person is over compulsory school age
    # (docs/register.md, "The young person"): with the young person's agreement, unless they object, or never.
    parents_of_young_people: Literal["with_agreement", "unless_objection", "never"] = "with_agreement"

    @classmethod
    def of(cls, settings: ServiceSettings, **overrides: object) -> RegisterSettings:
        """These settings for a service whose runtime settings were read already (as `sendcase serve` and the
        tests do): those kept, the register's own read from the environment, then `overrides`."""
        if isinstance(settings, cls) and not overrides:
            return settings
        return cls(**{**settings.model_dump(exclude_unset=False, exclude={"service"}), **overrides})
