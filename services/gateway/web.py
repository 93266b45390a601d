"""The gateway's pages: sign-in (the LA's provider, the citizen provider, the development sign-in), the role choice,
no access, sign-out.

Sign-in with a provider is OpenID Connect's authorization code flow with PKCE: /sign-in/<provider> records the state,
nonce and code verifier (in the database, bound to this browser's cookie) and sends the browser to the provider;
/auth/<provider>/callback takes the code back only in the browser that left, exchanges it (with the verifier) for
the tokens, checks the ID token (signature, issuer, audience, expiry, nonce) and makes a new session. Every form
carries a CSRF token: the session's once signed in, one bound to the browser's cookie before.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from contracts.envelope import Actor
from services.gateway.access import citizen_actors, citizen_user_id, describe
from services.gateway.core import Gateway, gateway_of
from services.gateway.family import family_home, is_family
from services.gateway.oidc import ProviderUnavailable, TokenRefused
from services.gateway.pages import STYLESHEET, render, render_message
from services.gateway.store import Identity, Session, SignIn
from services.runtime.logging import get_logger

log = get_logger(__name__)

NOTICES = {
    "signed_out": "You have signed out.",
    "expired": "You were signed out because the session was not used for a while. Sign in again.",
}
Provider = Literal["staff", "citizen"]


def set_cookie(gateway: Gateway, response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", secure=gateway.secure, httponly=True, samesite="lax")


def forget_cookie(gateway: Gateway, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=gateway.secure, httponly=True, samesite="lax")


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def web_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/static/gateway.css")
    async def stylesheet() -> Response:
        return Response(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @router.get("/healthz")
    async def health(request: Request) -> Response:
        gateway = gateway_of(request)
        nats_ok = gateway.client.nc is not None and gateway.client.nc.is_connected
        try:
            await gateway.store.pool.fetchval("SELECT 1")
            db_ok = True
        except Exception:
            db_ok = False
        ok = nats_ok and db_ok
        body = {"status": "ok" if ok else "degraded", "nats": nats_ok, "database": db_ok}
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/")
    async def home(request: Request) -> Response:
        gateway = gateway_of(request)
        session, ran_out = await gateway.session(request)
        if session is None:
            return see_other("/sign-in?reason=expired" if ran_out else "/sign-in")
        if session.actor is None:
            return see_other("/choose-role")
        if is_family(session.actor):  # a parent or young person: their children, and linking one with a code
            return await family_home(gateway, home_values(gateway, session))
        return render("home.html", **home_values(gateway, session))

    @router.get("/sign-in")
    async def sign_in(request: Request, reason: str | None = None) -> Response:
        gateway = gateway_of(request)
        response = render(
            "sign_in.html",
            title="Sign in",
            notice=NOTICES.get(reason or ""),
            staff=gateway.settings.staff_label if "staff" in gateway.providers else None,
            citizen=gateway.settings.citizen_label if "citizen" in gateway.providers else None,
            development=gateway.settings.development_sign_in,
        )
        return response

    @router.get("/sign-in/{provider}")
    async def leave_for_provider(request: Request, provider: str) -> Response:
        gateway = gateway_of(request)
        if provider == "development" and gateway.settings.development_sign_in:
            return await development_page(request)
        if provider not in gateway.providers:
            return render_message(404, "No such sign-in", "There is no such way to sign in here.")
        await gateway.limit("sign_in", "address", gateway.address(request))
        browser = request.cookies.get(gateway.browser_cookie)
        if not browser or len(browser) > 100:
            browser = gateway.new_browser()
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        try:
            url = await gateway.providers[provider].authorization_url(state, nonce, verifier)
        except ProviderUnavailable as e:
            log.warning("identity provider unavailable", provider=provider, error=str(e))
            return render_message(503, "Sign-in is not available", "The sign-in service cannot be reached just now.")
        await gateway.store.begin_sign_in(state, browser, SignIn(provider, verifier, nonce))
        response = RedirectResponse(url, status_code=302)
        set_cookie(gateway, response, gateway.browser_cookie, browser)
        return response

    @router.get("/auth/{provider}/callback")
    async def back_from_provider(
        request: Request,
        provider: str,
        code: Annotated[str | None, Query(max_length=4096)] = None,
        state: Annotated[str | None, Query(max_length=512)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        gateway = gateway_of(request)
        if provider not in gateway.providers:
            return render_message(404, "No such sign-in", "There is no such way to sign in here.")
        await gateway.limit("sign_in", "address", gateway.address(request))
        if error is not None or not code or not state:
            if error is not None and state:  # the sign-in it ends is used up
                await gateway.store.finish_sign_in(state, None, provider)
            said = f" (it said: {error})" if error and error.replace("_", "").isalnum() else ""
            return render_message(
                400, "You are not signed in", f"The sign-in was not completed{said}. You can start it again."
            )
        sign_in = await gateway.store.finish_sign_in(state, request.cookies.get(gateway.browser_cookie), provider)
        if sign_in is None:
            return render_message(
                400,
                "You are not signed in",
                "This sign-in was not started in this browser, was used already, or took too long. Start again.",
            )
        oidc = gateway.providers[provider]
        try:
            tokens = await oidc.exchange_code(code, sign_in.code_verifier)
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise TokenRefused("the provider sent no ID token")
            claims = await oidc.verify_id_token(id_token, sign_in.nonce)
            if oidc.settings.userinfo and isinstance(tokens.get("access_token"), str):
                info = await oidc.userinfo(tokens["access_token"])
                if info.get("sub") != claims["sub"]:
                    raise TokenRefused("the userinfo is about someone else")
                claims = {**info, **claims}
        except TokenRefused as e:
            log.warning("sign-in refused", provider=provider, reason=e.reason)
            return render_message(400, "You are not signed in", "The sign-in could not be checked. Start it again.")
        except ProviderUnavailable as e:
            log.warning("identity provider unavailable", provider=provider, error=str(e))
            return render_message(503, "Sign-in is not available", "The sign-in service cannot be reached just now.")
        identity = _identity(gateway, provider, claims)  # type: ignore[arg-type]
        if identity.user_id:
            await gateway.limit("sign_in", "person", identity.user_id)
        if not identity.actors:
            log.info("signed in with no access", provider=provider)
            return render(
                "no_access.html", status=403, title="No access", name=identity.name, user_id=identity.user_id or None
            )
        return await start_session(gateway, request, identity)

    async def development_page(request: Request) -> Response:
        gateway = gateway_of(request)
        browser = request.cookies.get(gateway.browser_cookie)
        if not browser or len(browser) > 100:
            browser = gateway.new_browser()
        response = render(
            "development.html",
            title="Development sign-in",
            people=gateway.demo_people,
            csrf_token=gateway.browser_token(browser),
        )
        set_cookie(gateway, response, gateway.browser_cookie, browser)
        return response

    @router.post("/sign-in/development")
    async def development_sign_in(
        request: Request,
        person: Annotated[str, Form(max_length=100)],
        csrf_token: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        gateway = gateway_of(request)
        if not gateway.settings.development_sign_in:
            return render_message(404, "No such sign-in", "There is no such way to sign in here.")
        if not gateway.browser_token_ok(request.cookies.get(gateway.browser_cookie), csrf_token):
            return csrf_refused()
        await gateway.limit("sign_in", "address", gateway.address(request))
        chosen = next((p for p in gateway.demo_people if p.key == person), None)
        if chosen is None:
            return render_message(400, "No such person", "Pick one of the demo people.")
        await gateway.limit("sign_in", "person", chosen.actor.user_id)
        identity = Identity(
            provider="development",
            issuer="development",
            subject=chosen.key,
            user_id=chosen.actor.user_id,
            name=chosen.name,
            actors=[chosen.actor],
        )
        log.info("development sign-in", role=chosen.actor.role.value, organisation=chosen.actor.organisation)
        return await start_session(gateway, request, identity)

    @router.get("/choose-role")
    async def choose_role_page(request: Request) -> Response:
        gateway = gateway_of(request)
        session = await signed_in(gateway, request)
        if isinstance(session, Response):
            return session
        return render(
            "choose_role.html",
            title="Choose your role",
            name=session.identity.name or session.identity.user_id,
            actors=session.identity.actors,
            current=session.actor,
            describe=describe,
            csrf_token=session.csrf_token,
        )

    @router.post("/choose-role")
    async def choose_role(
        request: Request,
        role: Annotated[int, Form(ge=0, le=1000)],
        csrf_token: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        gateway = gateway_of(request)
        session = await signed_in(gateway, request)
        if isinstance(session, Response):
            return session
        if not session.csrf_ok(csrf_token):
            return csrf_refused()
        actors = session.identity.actors
        if role >= len(actors):
            return render_message(400, "No such role", "Pick one of the roles listed.")
        # the person picks among the roles they were given at sign-in, never one of their own making
        await gateway.store.choose_actor(session, actors[role])
        return see_other("/")

    @router.post("/sign-out")
    async def sign_out(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
        gateway = gateway_of(request)
        session, _ = await gateway.session(request)
        if session is not None:
            if not session.csrf_ok(csrf_token):
                return csrf_refused()
            await gateway.store.delete_session(session.id_hash)
        response = see_other("/sign-in?reason=signed_out")
        forget_cookie(gateway, response, gateway.session_cookie)
        return response

    return router


def home_values(gateway: Gateway, session: Session) -> dict[str, Any]:
    identity = session.identity
    return dict(
        title="Signed in",
        name=identity.name or identity.user_id,
        user_id=identity.user_id,
        actor=session.actor,
        several=len(identity.actors) > 1,
        describe=describe,
        csrf_token=session.csrf_token,
        idle_minutes=f"{gateway.settings.session_idle_minutes:g}",
    )


def csrf_refused() -> Response:
    return render_message(
        403,
        "Not possible",
        "The form was out of date or did not come from this site. Go back, reload it and try again.",
    )


async def signed_in(gateway: Gateway, request: Request) -> Session | Response:
    session, ran_out = await gateway.session(request)
    if session is None:
        return see_other("/sign-in?reason=expired" if ran_out else "/sign-in")
    return session


def _identity(gateway: Gateway, provider: Provider, claims: dict[str, Any]) -> Identity:
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    if provider == "citizen":
        user_id = citizen_user_id(issuer, subject)
        name = claims.get("email") if isinstance(claims.get("email"), str) else None
        return Identity(
            provider="citizen",
            issuer=issuer,
            subject=subject,
            user_id=user_id,
            name=name,
            actors=citizen_actors(user_id),
        )
    mapping = gateway.mapping
    assert mapping is not None
    staff_id = mapping.user_id(claims)
    actors: list[Actor] = mapping.actors(staff_id, claims) if staff_id else []
    return Identity(
        provider="staff",
        issuer=issuer,
        subject=subject,
        user_id=staff_id or "",
        name=mapping.name(claims),
        actors=actors,
    )


async def start_session(gateway: Gateway, request: Request, identity: Identity) -> Response:
    """A new session for the person (ending any this browser had): acting at once in their only role, or first
    choosing among several."""
    old, _ = await gateway.session(request)
    if old is not None:
        await gateway.store.delete_session(old.id_hash)
    actor = identity.actors[0] if len(identity.actors) == 1 else None
    token, _ = await gateway.store.create_session(identity, actor)
    log.info("signed in", provider=identity.provider, roles=len(identity.actors))
    response = see_other("/" if actor is not None else "/choose-role")
    set_cookie(gateway, response, gateway.session_cookie, token)
    return response
