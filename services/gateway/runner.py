"""`sendcase serve gateway`: the gateway under uvicorn, on the host and port its settings name."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.runtime.logging import configure_logging, get_logger

log = get_logger(__name__)


def uvicorn_config(settings: GatewaySettings, app: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host,
        port=settings.port,
        log_config=None,  # our logging (personal data masked), not uvicorn's own
        access_log=False,  # the API logs each request itself, without personal data
        server_header=False,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGTERM or Ctrl-C stops it gracefully, and the process then ends with 0, as a service's does (uvicorn
        would raise the signal again once stopped, ending the process killed by it)."""
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


async def run_gateway(settings: GatewaySettings) -> None:
    """Run until stopped (SIGTERM or Ctrl-C). A configuration it must not run with raises ConfigurationError."""
    configure_logging("gateway", settings.log_format, settings.log_level)
    app = create_app(settings)
    server = _Server(uvicorn_config(settings, app))
    log.info(
        "gateway listening", listening_on=f"http://{settings.host}:{settings.port}", public_url=settings.public_url
    )
    await server.serve()
    if not server.started:
        raise SystemExit(1)  # the app could not start (its database or NATS): the supervisor starts it again


def main(settings: GatewaySettings) -> None:
    asyncio.run(run_gateway(settings))
