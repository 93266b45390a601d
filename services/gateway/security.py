"""What every response gets, and what no request gets past: security headers, request size limits, and refusals
in the contracts' shape (never a traceback).

- Headers: a strict Content-Security-Policy (nothing but this gateway's own styles; no frames, no inline script),
  X-Frame-Options DENY, nosniff, Referrer-Policy no-referrer (sign-in codes travel in URLs), no caching (pages and
  replies hold children's records), and HSTS outside development.
- Size: an API request of more than `max_body_bytes`, or a page's form of more than `max_form_bytes`, is refused
  (413) before it is read further.
- Refusals: an API request gets `Rejected` as JSON with its status; a page gets a page. Anything unexpected is logged
  with its traceback under a reference and answered 500 with only that reference.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.envelope import FieldError, Rejected, RejectionCode
from services.gateway.core import Refusal
from services.gateway.pages import render_message
from services.runtime.logging import get_logger

log = get_logger(__name__)

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
MAX_FIELD_ERRORS = 20


def is_api(path: str) -> bool:
    return path.startswith("/api/")


class SecurityHeaders:
    """Adds the security headers to every response, and answers whatever escaped every handler with a 500 that
    names only a reference (the traceback goes to the log, under it)."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
            (b"cache-control", b"no-store"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in self.names]
                message["headers"] = kept + self.headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            reference = uuid.uuid4()
            log.error("unexpected error in the gateway", reference=str(reference), path=scope["path"], exc_info=error)
            if started:  # the reply is half sent: the connection is closed with it
                return
            response = unexpected_response(scope["path"], reference)
            await response(scope, receive, send_with_headers)


def unexpected_response(path: str, reference: uuid.UUID) -> Response:
    message = f"Something went wrong on our side; it is logged under reference {reference}."
    if is_api(path):
        rejected = Rejected(
            code=RejectionCode.INTERNAL_ERROR, rule="internal_error", message=message, correlation_id=reference
        )
        return rejected_json(500, rejected)
    return render_message(500, "Something went wrong", message)


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request is larger than {limit:,} bytes, the most this gateway takes.")


class BodyLimit:
    """Refuses a request body over the limit: at once when its Content-Length says so, else as it is read."""

    def __init__(self, app: ASGIApp, api_limit: int, form_limit: int) -> None:
        self.app = app
        self.api_limit = api_limit
        self.form_limit = form_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.api_limit if is_api(scope["path"]) else self.form_limit
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = refusal_response(scope["path"], BodyTooLarge(limit))
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


def rejected_json(status: int, rejected: Rejected, headers: dict[str, str] | None = None) -> Response:
    return Response(rejected.model_dump_json(), status_code=status, media_type="application/json", headers=headers)


def _code_for(status: int) -> RejectionCode:
    return {
        401: RejectionCode.NOT_AUTHORISED,
        403: RejectionCode.NOT_AUTHORISED,
        404: RejectionCode.NOT_FOUND,
        409: RejectionCode.CONFLICT,
    }.get(status, RejectionCode.INTERNAL_ERROR if status >= 500 else RejectionCode.INVALID)


def refusal_response(path: str, error: StarletteHTTPException) -> Response:
    status = error.status_code
    message = {
        404: "There is nothing here. The API's operations are listed in /api/v1/openapi.json.",
        405: "This address takes another method: the API's operations are POST (see /api/v1/openapi.json).",
    }.get(status, str(error.detail))
    headers = dict(error.headers or {})
    if is_api(path):
        rule = {404: "no_such_operation", 405: "method_not_allowed", 413: "request_too_large"}.get(status)
        return rejected_json(status, Rejected(code=_code_for(status), rule=rule, message=message), headers)
    return render_message(status, "Not possible", message, headers=headers)


def field_errors(errors: list[Any]) -> tuple[list[FieldError], bool]:
    """FastAPI's validation errors as the contracts' field errors (`pupil.upn`, `header Idempotency-Key`), and
    whether the body was not JSON at all."""
    found, not_json = [], False
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        if e.get("type") == "json_invalid":
            not_json = True
        if loc and loc[0] == "body":
            where = ".".join(loc[1:]) or "(body)"
        elif loc and loc[0] in ("header", "query", "cookie"):
            where = f"{loc[0]} {'.'.join(loc[1:])}"
        else:
            where = ".".join(loc) or "(request)"
        found.append(FieldError(field=where[:200], problem=str(e.get("msg", "not valid"))[:500]))
    return found, not_json


def invalid_rejection(errors: list[FieldError], not_json: bool) -> Rejected:
    if not_json:
        return Rejected(code=RejectionCode.INVALID, rule="not_json", message="The request body is not valid JSON.")
    summary = "; ".join(f"{fe.field}: {fe.problem}" for fe in errors[:5])
    more = len(errors) - MAX_FIELD_ERRORS
    return Rejected(
        code=RejectionCode.INVALID,
        message=f"The request was not valid: {summary}" + (f" (and {more} more problems)" if more > 0 else ""),
        field_errors=errors[:MAX_FIELD_ERRORS],
    )


def install(app: FastAPI, *, hsts: bool, api_limit: int, form_limit: int) -> None:
    @app.exception_handler(Refusal)
    async def refused(request: Request, error: Refusal) -> Response:
        if is_api(request.url.path):
            return rejected_json(error.status, error.rejected, error.headers)
        return render_message(error.status, "Not possible", error.rejected.message, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def not_valid(request: Request, error: RequestValidationError) -> Response:
        errors, not_json = field_errors(list(error.errors()))
        if is_api(request.url.path):
            return rejected_json(400 if not_json else 422, invalid_rejection(errors, not_json))
        return render_message(400, "Not possible", "The form was not filled in as expected: go back and try again.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        return refusal_response(request.url.path, error)

    app.add_middleware(BodyLimit, api_limit=api_limit, form_limit=form_limit)
    app.add_middleware(SecurityHeaders, hsts=hsts)
