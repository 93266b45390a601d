"""The gateway's app: its pages, its API generated from the catalogue, its OpenAPI document, and what guards them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.gateway.api import API, api_router
from services.gateway.core import Gateway
from services.gateway.family import family_router
from services.gateway.security import install
from services.gateway.settings import GatewaySettings
from services.gateway.web import web_router
from services.runtime.clock import Clock

OPENAPI_PATH = f"{API}/openapi.json"
DESCRIPTION = """\
Every command and query sendcase's services declare for people (contracts/catalogue.py), as JSON over HTTP.

**Authentication.** A bearer access token of the LA's identity provider (OpenID Connect; checked against its
published keys: signature, issuer, audience, expiry). The LA's access mapping turns the token's groups or roles into
the role and organisation you act as; when it gives several, say which in the `Sendcase-Role` (and
`Sendcase-Organisation`) header. A signed-in browser session may call the API too, sending the session's CSRF token
in `X-CSRF-Token`. Nothing in a request body says who is acting.

**Replies.** 200 with `Accepted` (commands) or `Answered` (queries) and the result; otherwise the contracts'
`Rejected`: 400 (not JSON, a bad header, a role not chosen), 401 (not signed in), 403 (no access, or the service
refused: `not_authorised`), 404 (`not_found`), 409 (`conflict`: send it again), 413 (too large), 422 (`invalid`: the
request does not match the contract; `rule_broken`: a rule says no), 429 (too many requests), 503/504 (the service is
not running, or did not reply in time).

**Commands once.** Send an `Idempotency-Key` with a command: sent again with the same key (by the same person, in the
same role), it is not done again and its first reply comes back.
"""


def create_app(settings: GatewaySettings, clock: Clock | None = None) -> FastAPI:
    """The gateway as an ASGI app. Refuses a configuration it must not run with (ConfigurationError)."""
    gateway = Gateway(settings, clock)
    app = FastAPI(
        title="sendcase API",
        version="1",
        description=DESCRIPTION,
        openapi_url=OPENAPI_PATH,
        docs_url=None,  # the interactive pages load scripts from elsewhere, which the CSP forbids
        redoc_url=None,
        lifespan=gateway.lifespan,
    )
    app.state.gateway = gateway
    app.include_router(api_router())
    app.include_router(web_router())
    app.include_router(family_router())
    install(app, hsts=not settings.development, api_limit=settings.max_body_bytes, form_limit=settings.max_form_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            staff = settings.staff.discovery_url
            if staff:
                schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
                schemes["oidc"] = {"type": "openIdConnect", "openIdConnectUrl": staff}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
