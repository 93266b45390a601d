"""The HTTP API, generated from contracts/catalogue.py: for every command and query a service declares for people,

    POST /api/v1/<service>/commands/<name>    the command as JSON -> Accepted[its Result] | Rejected
    POST /api/v1/<service>/queries/<name>     the query as JSON   -> Answered[its Result] | Rejected

with its request and reply schemas in the OpenAPI document (/api/v1/openapi.json). No route is written by hand: a
service's new command reaches the API by being declared in its CONTRACT.

Who is asking comes from a bearer token of the LA's identity provider (checked against its keys: signature, issuer,
audience, expiry) mapped to an actor by the LA's access mapping, or from a signed-in browser session (then its CSRF
token must come in the X-CSRF-Token header). The body is the command or query itself: a contracts model that
forbids unknown fields, so a body that names an `actor` is refused, and nothing a client sends sets the actor.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from contracts.catalogue import CATALOGUE
from contracts.envelope import (
    Accepted,
    Actor,
    Answered,
    Command,
    Query,
    Rejected,
    RejectionCode,
    Role,
)
from contracts.service import ServiceContract, name_of
from services.gateway.access import describe
from services.gateway.core import STATUS_OF, Gateway, Refusal, gateway_of, not_signed_in
from services.gateway.oidc import ProviderUnavailable, TokenRefused
from services.runtime.logging import get_logger

log = get_logger(__name__)

API = "/api/v1"
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,200}$"  # printable ASCII, no spaces

bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An access token of the LA's identity provider, for this API's audience (docs/security.md).",
)

REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": Rejected, "description": "The request is not valid JSON, or a header is wrong."},
    401: {"model": Rejected, "description": "No valid bearer token or session: sign in."},
    403: {"model": Rejected, "description": "Signed in, but not allowed: no access, or the service refused."},
    404: {"model": Rejected, "description": "What the request names does not exist."},
    409: {"model": Rejected, "description": "The record changed under the command: send it again."},
    413: {"model": Rejected, "description": "The request is too large."},
    422: {"model": Rejected, "description": "The request does not match the contract, or breaks a rule."},
    429: {"model": Rejected, "description": "Too many requests: see Retry-After."},
    503: {"model": Rejected, "description": "The service is not running just now."},
    504: {"model": Rejected, "description": "The service did not reply in time."},
}


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    sendcase_role: Annotated[
        Role | None,
        Header(
            alias="Sendcase-Role",
            description="With a bearer token that gives several roles: the role to act in.",
        ),
    ] = None,
    sendcase_organisation: Annotated[
        str | None,
        Header(
            alias="Sendcase-Organisation",
            max_length=80,
            description="With a bearer token that gives one role for several organisations: the one to act for.",
        ),
    ] = None,
    csrf_token: Annotated[
        str | None,
        Header(alias="X-CSRF-Token", max_length=200, description="With a browser session: the session's CSRF token."),
    ] = None,
) -> Actor:
    """The actor the request acts as: from its bearer token, or from its browser session. Never from its body."""
    gateway = gateway_of(request)
    await gateway.limit("api", "address", gateway.address(request))
    if credentials is not None:
        actor = await _bearer_actor(gateway, credentials.credentials, sendcase_role, sendcase_organisation)
    elif request.headers.get("authorization"):
        raise not_signed_in("The Authorization header must be 'Bearer <access token>'.", "invalid_request")
    else:
        actor = await _session_actor(gateway, request, csrf_token)
    await gateway.limit("api", "person", actor.user_id)
    return actor


async def _bearer_actor(gateway: Gateway, token: str, role: Role | None, organisation: str | None) -> Actor:
    provider = gateway.providers.get("staff")
    audience = gateway.settings.audience
    if provider is None or gateway.mapping is None or audience is None:
        raise not_signed_in("This gateway takes no bearer tokens (no identity provider is set for the API).")
    try:
        claims = await provider.verify_access_token(token, audience)
    except TokenRefused as e:
        log.info("bearer token refused", reason=e.reason)
        raise not_signed_in(f"The bearer token was refused: {e.reason}.", "invalid_token") from None
    except ProviderUnavailable as e:
        log.warning("identity provider unavailable", error=str(e))
        raise Refusal(
            503,
            RejectionCode.INTERNAL_ERROR,
            "identity_provider_unavailable",
            "The identity provider cannot be reached to check the token. Try again shortly.",
            headers={"Retry-After": "5"},
        ) from None
    user_id = gateway.mapping.user_id(claims)
    actors = gateway.mapping.actors(user_id, claims) if user_id else []
    if not actors:
        raise Refusal(
            403,
            RejectionCode.NOT_AUTHORISED,
            "no_access",
            "The token is good, but sendcase gives it no role: the LA's access mapping has no grant for it.",
        )
    chosen = [
        a
        for a in actors
        if (role is None or a.role == role) and (organisation is None or a.organisation == organisation)
    ]
    if not chosen:
        raise Refusal(
            403,
            RejectionCode.NOT_AUTHORISED,
            "role_not_held",
            f"The token does not give that role; it gives: {'; '.join(describe(a) for a in actors)}.",
        )
    if len(chosen) > 1:
        raise Refusal(
            400,
            RejectionCode.INVALID,
            "role_not_chosen",
            "The token gives several roles: say which one to act in with the Sendcase-Role header (and "
            f"Sendcase-Organisation): {'; '.join(describe(a) for a in chosen)}.",
        )
    return chosen[0]


async def _session_actor(gateway: Gateway, request: Request, csrf_token: str | None) -> Actor:
    session, ran_out = await gateway.session(request)
    if session is None:
        if ran_out:
            raise not_signed_in("Your session ended after a time without use: sign in again.")
        raise not_signed_in("Sign in first: send a bearer token, or sign in at /sign-in.")
    if not session.csrf_ok(csrf_token):
        raise Refusal(
            403,
            RejectionCode.NOT_AUTHORISED,
            "csrf_token_missing",
            "A request from a signed-in browser must carry the session's CSRF token in the X-CSRF-Token header.",
        )
    if session.actor is None:
        raise Refusal(
            403,
            RejectionCode.NOT_AUTHORISED,
            "role_not_chosen",
            "Choose the role you act in first, at /choose-role.",
        )
    return session.actor


def reply_response(reply: Accepted[Any] | Answered[Any] | Rejected) -> Response:
    """A service's reply as it came, with the HTTP status of its outcome."""
    status = STATUS_OF[reply.code] if isinstance(reply, Rejected) else 200
    return Response(content=reply.model_dump_json(), status_code=status, media_type="application/json")


def _summary(message: type[BaseModel]) -> tuple[str, str]:
    doc = inspect.cleandoc(message.__doc__ or "")
    first = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return (first[:120] or message.__name__), doc


def _endpoint(message: type[Command] | type[Query]) -> Callable[..., Awaitable[Response]]:
    is_command = issubclass(message, Command)

    async def endpoint(request: Request, actor: Actor, body: Any, idempotency_key: str | None = None) -> Response:
        gateway = gateway_of(request)
        command_id = gateway.command_id(actor, message, idempotency_key) if is_command else None  # type: ignore[arg-type]
        reply = await gateway.ask(body, actor, command_id)
        log.info(
            "api request",
            request=message.SUBJECT,
            role=actor.role.value,
            organisation=actor.organisation,
            outcome=reply.outcome,
            rule=getattr(reply, "rule", None),
        )
        return reply_response(reply)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "actor", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[Actor, Depends(caller)]
        ),
        inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=message),
    ]
    if is_command:
        parameters.append(
            inspect.Parameter(
                "idempotency_key",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=None,
                annotation=Annotated[
                    str | None,
                    Header(
                        alias="Idempotency-Key",
                        pattern=IDEMPOTENCY_KEY,
                        description="Your own key for this command (printable ASCII, at most 200 characters): sent "
                        "again with the same key, the command is not done again and its first reply comes back.",
                    ),
                ],
            )
        )
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    endpoint.__name__ = message.SUBJECT.replace(".", "_")
    return endpoint


def add_routes(router: APIRouter, contract: ServiceContract) -> None:
    messages: tuple[type[Command] | type[Query], ...] = (*contract.public_commands, *contract.public_queries)
    for message in messages:
        is_command = issubclass(message, Command)
        kind = "commands" if is_command else "queries"
        result: Any = message.Result
        success: Any = Accepted[result] if is_command else Answered[result]
        summary, description = _summary(message)
        router.add_api_route(
            f"{API}/{contract.name}/{kind}/{name_of(message)}",
            _endpoint(message),
            methods=["POST"],
            response_model=None,
            responses={200: {"model": success, "description": "Done: the result."}, **REFUSALS},
            tags=[contract.name],
            summary=summary,
            description=description,
            operation_id=message.SUBJECT.replace(".", "_"),
        )


class Acting(BaseModel):
    """Who the API takes the caller to be."""

    actor: Actor


def api_router() -> APIRouter:
    router = APIRouter()
    for contract in CATALOGUE.values():
        add_routes(router, contract)

    @router.get(
        f"{API}/me",
        response_model=Acting,
        responses={k: v for k, v in REFUSALS.items() if k in (400, 401, 403, 429, 503)},
        tags=["gateway"],
        summary="Who the API takes you to be",
        operation_id="gateway_me",
    )
    async def me(actor: Annotated[Actor, Depends(caller)]) -> Acting:
        return Acting(actor=actor)

    return router
