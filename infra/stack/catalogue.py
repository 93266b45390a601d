"""The services this build runs, by name, and the gateway in front of them. plans and ehcp join when their issues
are built."""

from __future__ import annotations

from importlib import import_module

from contracts.subjects import GATEWAY_USER
from services.runtime.service import Bootstrap

SERVICES: dict[str, str] = {
    "register": "services.register.bootstrap",
    "notifications": "services.notifications.bootstrap",
}
# The gateway is no service of the event store's kind (it keeps no events): `sendcase serve gateway` runs it, and
# `sendcase up` starts it after the services.
GATEWAY = GATEWAY_USER  # its process is named as its NATS user is


def bootstrap_for(name: str) -> Bootstrap:
    try:
        module = SERVICES[name]
    except KeyError:
        raise KeyError(f"no service called {name!r}; the services are: {', '.join(SERVICES)}") from None
    return import_module(module).bootstrap
