"""The gateway for the tests: its NATS URL (one place), its settings in a sandbox, the gateway served by uvicorn in
the test's event loop, and a browser that follows redirects and keeps cookies as a browser does (Secure ones
included on 127.0.0.1, which browsers treat as a secure context)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import uvicorn
from fastapi import FastAPI

from infra.stack.scratch import Sandbox, Servers
from services.gateway.app import create_app
from services.gateway.core import Gateway
from services.gateway.settings import GatewaySettings, load_gateway_settings
from services.runtime.clock import Clock

CHECKOUT = Path(__file__).resolve().parents[2]
DEMO_PEOPLE = CHECKOUT / "infra" / "demo" / "people.toml"
ACCESS_840 = CHECKOUT / "infra" / "local_authorities" / "840" / "access.toml"


def gateway_nats_url(servers: Servers) -> str:
    """The NATS URL the gateway connects with in the tests: every gateway test gets it from here. It connects as its
    own NATS user, `gateway`, which may send the public commands and queries and nothing else."""
    return servers.nats_url_for("gateway")


def gateway_settings(sandbox: Sandbox, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = dict(
        postgres_url=sandbox.servers.postgres_url,
        database_url=sandbox.database_url("gateway"),
        nats_url=gateway_nats_url(sandbox.servers),
        subject_prefix=sandbox.prefix,
        request_timeout_seconds=3.0,
        request_retries=0,
    )
    values.update(overrides)
    return load_gateway_settings(**values)


def development_settings(sandbox: Sandbox, **overrides: Any) -> GatewaySettings:
    return gateway_settings(sandbox, mode="development", development_sign_in=True, demo_people=DEMO_PEOPLE, **overrides)


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]  # the test's process keeps its own signal handlers
        yield


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class RunningGateway:
    url: str
    app: FastAPI
    settings: GatewaySettings

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway


@contextlib.asynccontextmanager
async def serving(app: FastAPI, sock: socket.socket) -> AsyncIterator[None]:
    """An ASGI app served by uvicorn in this event loop, on a socket already bound (its port known beforehand)."""
    server = _InLoopServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the gateway did not start (see the log)")
            await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@contextlib.asynccontextmanager
async def running_gateway(
    make_settings: Any, sandbox: Sandbox, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[RunningGateway]:
    """`make_settings(sandbox, public_url=..., **overrides)` served on a free port of 127.0.0.1."""
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(sandbox, public_url=url, **overrides)
    app = create_app(settings, clock)
    async with serving(app, sock):
        yield RunningGateway(url, app, settings)


class Browser:
    """Follows redirects across sites and keeps each site's cookies, as a browser does."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=20)
        self.jars: dict[str, dict[str, str]] = {}
        self.set_cookies: list[str] = []  # every Set-Cookie header seen, to check their attributes

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    @staticmethod
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    def cookies(self, url: str) -> dict[str, str]:
        return self.jars.setdefault(self.origin(url), {})

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        jar = self.cookies(url)
        headers = dict(kwargs.pop("headers", None) or {})
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        response = await self.http.request(method, url, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or (morsel["expires"] and "1970" in morsel["expires"]):
                    jar.pop(name, None)
                else:
                    jar[name] = morsel.value
        return response

    async def go(self, url: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
        """Request the URL and follow its redirects (a 303 or a 302 after a POST becomes a GET, as browsers do)."""
        response = await self.request(method, url, **kwargs)
        for _ in range(10):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            url = urljoin(str(response.url), response.headers["location"])
            response = await self.request("GET", url)
        raise AssertionError("too many redirects")

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.go(url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.go(url, "POST", **kwargs)


STAFF_CLIENT, STAFF_SECRET = "sendcase-staff", "staff-client-secret"
CITIZEN_CLIENT = "sendcase-citizen"
API_AUDIENCE = "api://sendcase"


def production_settings(
    sandbox: Sandbox, *, provider: Any, citizen_key_file: Path, **overrides: Any
) -> GatewaySettings:
    """The production configuration, against the tests' OIDC provider (tests/support/oidc_provider.py) as both the
    LA's provider and the citizen one (the citizen client authenticates with private_key_jwt, as GOV.UK One Login
    requires)."""
    values: dict[str, Any] = dict(
        mode="production",
        staff_discovery_url=provider.discovery_url,
        staff_client_id=STAFF_CLIENT,
        staff_client_secret=STAFF_SECRET,
        access_mapping=ACCESS_840,
        api_audience=API_AUDIENCE,
        citizen_discovery_url=provider.discovery_url,
        citizen_client_id=CITIZEN_CLIENT,
        citizen_client_auth="private_key_jwt",
        citizen_client_key_file=citizen_key_file,
    )
    values.update(overrides)
    return gateway_settings(sandbox, **values)


@contextlib.asynccontextmanager
async def production_gateway(
    sandbox: Sandbox, provider: Any, citizen_key: tuple[Any, Path], clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[RunningGateway]:
    """A gateway in production mode against the tests' provider, its clients registered there for its address."""
    from tests.support.oidc_provider import RegisteredClient

    key, key_file = citizen_key
    make = functools.partial(production_settings, provider=provider, citizen_key_file=key_file)
    async with running_gateway(make, sandbox, clock, **overrides) as running:
        provider.register(RegisteredClient(STAFF_CLIENT, [f"{running.url}/auth/staff/callback"], secret=STAFF_SECRET))
        provider.register(RegisteredClient(CITIZEN_CLIENT, [f"{running.url}/auth/citizen/callback"], public_key=key))
        yield running
