"""A standalone OpenID Connect provider for the tests: discovery, authorize (PKCE required), token (client secret or
private_key_jwt), JWKS and userinfo, served by uvicorn in a thread of its own on 127.0.0.1 (no network, nothing
downloaded). It proves the gateway's production path against a provider that checks what a real one checks.

Who signs in is what the test says: `provider.next_person = {"sub": ..., "email": ..., "groups": [...]}` before the
browser reaches /authorize (None: the person declines, and the provider answers `access_denied`). `access_token()`
makes bearer tokens for the API, good ones and bad ones (another audience, expired, another key, another issuer).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class RegisteredClient:
    client_id: str
    redirect_uris: list[str]
    secret: str | None = None  # client_secret_basic / client_secret_post
    public_key: RSAKey | None = None  # private_key_jwt


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    claims: dict[str, Any]
    expires: float


@dataclass
class Seen:
    """What the provider saw, for the tests to check the gateway did it right."""

    authorize: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    pkce_checked: int = 0
    client_assertions_checked: int = 0


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class OidcTestProvider:
    def __init__(self) -> None:
        self.key = new_key("test-key-1")
        self.clients: dict[str, RegisteredClient] = {}
        self.next_person: dict[str, Any] | None = None
        self.codes: dict[str, _Code] = {}
        self.access: dict[str, dict[str, Any]] = {}  # access token -> the person's claims (for userinfo)
        self.seen = Seen()
        self.id_token_lifetime = 300
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def register(self, client: RegisteredClient) -> None:
        self.clients[client.client_id] = client

    # -- tokens ----------------------------------------------------------------------------------------------

    def sign(
        self, claims: dict[str, Any], key: RSAKey | None = None, alg: str = "RS256", kid: str | None = None
    ) -> str:
        key = key or self.key
        header = {"alg": alg, "typ": "JWT", "kid": kid if kid is not None else key.kid}
        return jwt.encode(header, claims, key, algorithms=[alg])

    def access_token(
        self,
        person: dict[str, Any],
        audience: str,
        *,
        expires_in: int = 600,
        key: RSAKey | None = None,
        issuer: str | None = None,
        now: float | None = None,
        kid: str | None = None,
    ) -> str:
        now = now if now is not None else time.time()
        claims = {
            "iss": issuer or self.issuer,
            "aud": audience,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + expires_in,
            "jti": secrets.token_hex(8),
            "scope": "sendcase.api",  # what an access token grants (an ID token grants nothing)
            **person,
        }
        return self.sign(claims, key, kid=kid)

    # -- the endpoints ---------------------------------------------------------------------------------------

    async def discovery(self, _: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "private_key_jwt",
                ],
            }
        )

    async def jwks(self, _: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.seen.authorize.append(q)
        client = self.clients.get(q.get("client_id", ""))
        if client is None or q.get("redirect_uri") not in client.redirect_uris:
            return Response("unknown client or redirect_uri", status_code=400)
        redirect = q["redirect_uri"]
        problem = None
        if q.get("response_type") != "code":
            problem = "unsupported_response_type"
        elif "openid" not in q.get("scope", "").split():
            problem = "invalid_scope"
        elif q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) < 43:
            problem = "invalid_request"  # PKCE is required
        elif not q.get("state") or not q.get("nonce"):
            problem = "invalid_request"
        elif self.next_person is None:
            problem = "access_denied"
        if problem:
            return RedirectResponse(f"{redirect}?{urlencode({'error': problem, 'state': q.get('state', '')})}", 302)
        assert self.next_person is not None
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Code(
            client.client_id, redirect, q["code_challenge"], q["nonce"], dict(self.next_person), time.time() + 60
        )
        return RedirectResponse(f"{redirect}?{urlencode({'code': code, 'state': q['state']})}", 302)

    def _client_of(self, request: Request, form: dict[str, str]) -> RegisteredClient | None:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            client = self.clients.get(client_id)
            return client if client and client.secret and secrets.compare_digest(client.secret, secret) else None
        if form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            assertion = form.get("client_assertion", "")
            for client in self.clients.values():
                if client.public_key is None:
                    continue
                try:
                    token = jwt.decode(assertion, client.public_key, algorithms=["RS256", "PS256", "ES256"])
                    jwt.JWTClaimsRegistry(
                        iss={"essential": True, "value": client.client_id},
                        sub={"essential": True, "value": client.client_id},
                        aud={"essential": True, "value": f"{self.issuer}/token"},
                        exp={"essential": True},
                    ).validate(token.claims)
                except Exception:
                    continue
                self.seen.client_assertions_checked += 1
                return client
            return None
        client = self.clients.get(form.get("client_id", ""))
        secret = form.get("client_secret", "")
        return client if client and client.secret and secrets.compare_digest(client.secret, secret) else None

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.seen.token_requests.append(form)
        client = self._client_of(request, form)
        if client is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        code = self.codes.pop(form.get("code", ""), None)  # a code is good once
        if code is None or code.client_id != client.client_id or code.expires < time.time():
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != code.redirect_uri:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, status_code=400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or not secrets.compare_digest(challenge, code.challenge):
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        self.seen.pkce_checked += 1
        now = int(time.time())
        id_token = self.sign(
            {
                "iss": self.issuer,
                "aud": client.client_id,
                "iat": now,
                "exp": now + self.id_token_lifetime,
                "nonce": code.nonce,
                **code.claims,
            }
        )
        access = self.access_token(code.claims, audience=client.client_id)
        self.access[access] = code.claims
        return JSONResponse(
            {"access_token": access, "token_type": "Bearer", "expires_in": 600, "id_token": id_token, "scope": "openid"}
        )

    async def userinfo(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        claims = self.access.get(auth.removeprefix("Bearer "))
        if claims is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(claims)

    # -- running ---------------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )

    def start(self) -> OidcTestProvider:
        config = uvicorn.Config(self.app(), log_config=None, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])),  # type: ignore[union-attr]
            name="oidc-test-provider",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the OIDC test provider did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._sock.close()
