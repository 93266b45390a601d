"""A local stand-in for the GOV.UK Notify HTTP API (v2), behaving like the documented one.

https://docs.notifications.service.gov.uk/rest-api.html: JWT bearer auth (HS256, iss = service id, iat
within 30 s), POST /v2/notifications/{email,sms,letter} answering 201, GET /v2/notifications?reference=,
GET /v2/notifications/{id}, and the documented errors: 400 BadRequestError / ValidationError, 403
AuthError, 404 NoResultFound, 429 RateLimitError / TooManyRequestsError, 500 Exception. Tests script
failures with `fail_next` and move a message's status (as Notify's delivery would) with `set_status`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from notifications_python_client.authentication import decode_jwt_token

SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
API_KEY = f"sendcase_test-{SERVICE_ID}-{SECRET}"
EMAIL_TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
SMS_TEMPLATE = "0b4cb8a2-7d1e-4b3f-9a0c-3a2f1d9c6e11"


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"errors": [{"error": error, "message": message}], "status_code": status}, status=status)


@dataclass
class NotifyStandIn:
    posts: list[dict[str, Any]] = field(default_factory=list)  # every POST that was accepted
    bodies: list[bytes] = field(default_factory=list)  # each accepted POST's request body, byte for byte
    attempts: int = 0  # every POST, accepted or not
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> notification
    scripted: list[tuple[int, str, str]] = field(default_factory=list)
    invalid_addresses: set[str] = field(default_factory=set)
    url: str = ""

    def fail_next(self, status: int, error: str, message: str, times: int = 1) -> None:
        self.scripted.extend([(status, error, message)] * times)

    def set_status(self, reference: str, status: str, completed_at: str | None = None) -> None:
        """Notify moves a message on (completed_at: when it reached a final status, as Notify writes it)."""
        for n in self.messages.values():
            if n["reference"] == reference:
                n["status"] = status
                if completed_at is not None:
                    n["completed_at"] = completed_at

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v2/notifications/email", self._email)
        app.router.add_post("/v2/notifications/sms", self._sms)
        app.router.add_post("/v2/notifications/letter", self._letter)
        app.router.add_get("/v2/notifications", self._search)
        app.router.add_get("/v2/notifications/{id}", self._get)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _error(401, "AuthError", "Unauthorized: authentication token must be provided")
        try:
            decode_jwt_token(header[7:], SECRET)
        except Exception as e:
            return _error(403, "AuthError", f"Invalid token: {getattr(e, 'message', e)}")
        return await handler(request)

    async def _scripted(self) -> web.Response | None:
        self.attempts += 1
        if self.scripted:
            status, error, message = self.scripted.pop(0)
            return _error(status, error, message)
        return None

    def _store(self, kind: str, body: dict[str, Any], raw: bytes, **extra: Any) -> web.Response:
        nid = str(uuid.uuid4())
        n = {
            "id": nid,
            "reference": body.get("reference"),
            "type": kind,
            "status": "created",
            "created_at": "2026-11-23T10:00:00.000000Z",
            "sent_at": None,
            "completed_at": None,
            **extra,
        }
        self.messages[nid] = n
        self.posts.append({"kind": kind, **body})
        self.bodies.append(raw)
        return web.json_response(
            {
                "id": nid,
                "reference": body.get("reference"),
                "uri": f"{self.url}/v2/notifications/{nid}",
                "template": {"id": body.get("template_id"), "version": 1},
                "content": {},
            },
            status=201,
        )

    async def _email(self, request: web.Request) -> web.Response:
        if (failure := await self._scripted()) is not None:
            return failure
        raw = await request.read()
        body = json.loads(raw)
        if body.get("template_id") != EMAIL_TEMPLATE:
            return _error(400, "BadRequestError", "Template not found")
        address = body.get("email_address", "")
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address) or address in self.invalid_addresses:
            return _error(400, "ValidationError", "email_address Not a valid email address")
        return self._store("email", body, raw, email_address=address)

    async def _sms(self, request: web.Request) -> web.Response:
        if (failure := await self._scripted()) is not None:
            return failure
        raw = await request.read()
        body = json.loads(raw)
        if body.get("template_id") != SMS_TEMPLATE:
            return _error(400, "BadRequestError", "Template not found")
        number = re.sub(r"[\s()+-]", "", body.get("phone_number", ""))
        if not re.fullmatch(r"(44|0)7[0-9]{9}", number) or body.get("phone_number") in self.invalid_addresses:
            return _error(400, "ValidationError", "phone_number Not a UK mobile number")
        return self._store("sms", body, raw, phone_number=body["phone_number"])

    async def _letter(self, request: web.Request) -> web.Response:
        if (failure := await self._scripted()) is not None:
            return failure
        raw = await request.read()
        body = json.loads(raw)
        if not body.get("reference"):
            return _error(400, "ValidationError", "reference is a required property")
        try:
            pdf = base64.b64decode(body.get("content", ""), validate=True)
        except ValueError:
            return _error(400, "ValidationError", "Cannot decode letter content (invalid base64 encoding)")
        if not pdf.startswith(b"%PDF"):
            return _error(400, "ValidationError", "Letter content is not a valid PDF")
        # Notify accepts a precompiled letter, then checks it against its letter specification before printing
        # it; one that fails becomes "validation-failed". The same checks here (tests/support/letters.py).
        from tests.support.letters import notify_problems

        problems = await asyncio.to_thread(notify_problems, pdf)
        response = self._store("letter", body, raw, postage="second", validation_problems=problems)
        if problems:
            self.messages[json.loads(response.body)["id"]]["status"] = "validation-failed"
        return response

    async def _search(self, request: web.Request) -> web.Response:
        reference = request.query.get("reference")
        found = [n for n in self.messages.values() if reference is None or n["reference"] == reference]
        return web.json_response({"notifications": found, "links": {"current": f"{self.url}/v2/notifications"}})

    async def _get(self, request: web.Request) -> web.Response:
        try:
            uuid.UUID(request.match_info["id"])
        except ValueError:
            return _error(400, "ValidationError", "notification_id is not a valid UUID")
        n = self.messages.get(request.match_info["id"])
        if n is None:
            return _error(404, "NoResultFound", "No result found")
        return web.json_response(n)


async def start_standin() -> tuple[NotifyStandIn, web.AppRunner]:
    standin = NotifyStandIn()
    runner = web.AppRunner(standin.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    standin.url = f"http://127.0.0.1:{port}"
    return standin, runner
