"""One OpenID Connect provider, as the gateway uses it: discovery, the authorization code flow with PKCE (Authlib's
client), ID tokens and the API's bearer tokens checked against the provider's JWKS (joserfc): the signature by one of
the provider's keys, with an asymmetric algorithm only; the issuer; the audience; the expiry (and nbf, iat); for an
ID token, the nonce the sign-in sent.

The provider's metadata is read once (again after an hour); its keys are read again when a token names a key not
yet seen (the provider rotated its keys), at most once every half a minute.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

with warnings.catch_warnings():
    # Authlib would rather use httpx2 (not yet a dependency of anything we use); with httpx it works the same
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

from services.gateway.settings import ProviderSettings
from services.runtime.clock import Clock

# Signatures the gateway accepts: public-key ones only (never "none", never a shared-secret HMAC, which anyone
# holding the client secret could forge).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
METADATA_SECONDS = 3600
KEYS_REFRESH_SECONDS = 30
HTTP_TIMEOUT = httpx.Timeout(5.0)
MAX_TOKEN_CHARS = 16 * 1024


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered nonsense: nobody can sign in with it just now."""


class TokenRefused(Exception):
    """A token that is not good: bad signature, unknown key, wrong issuer or audience, expired... `reason` says
    which, for the logs and for the API's refusal (it names no claim's value)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OidcProvider:
    def __init__(
        self,
        settings: ProviderSettings,
        redirect_uri: str,
        clock: Clock,
        leeway: int,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        assert settings.discovery_url and settings.client_id
        self.settings = settings
        self.kind = settings.kind
        self.redirect_uri = redirect_uri
        self.clock = clock
        self.leeway = leeway
        self.http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._lock = asyncio.Lock()
        key_file = settings.client_key_file
        self._client_key = key_file.read_text() if key_file is not None else None

    async def close(self) -> None:
        await self.http.aclose()

    # -- what the provider says of itself ----------------------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_SECONDS:
            return self._metadata
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at >= METADATA_SECONDS:
                url = self.settings.discovery_url
                assert url is not None
                data = await self._get_json(url)
                for needed in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(data.get(needed), str):
                        raise ProviderUnavailable(f"the {self.kind} provider's discovery document has no {needed}")
                # OpenID Connect Discovery: the issuer is the discovery URL's own start
                if not url.startswith(data["issuer"].rstrip("/") + "/.well-known/"):
                    raise ProviderUnavailable(
                        f"the {self.kind} provider's discovery document names issuer {data['issuer']!r}, which is "
                        f"not where it was read from ({url})"
                    )
                self._metadata, self._metadata_at = data, time.monotonic()
        assert self._metadata is not None
        return self._metadata

    async def issuer(self) -> str:
        return str((await self.metadata())["issuer"])

    async def key_set(self, refresh: bool = False) -> KeySet:
        stale = refresh and time.monotonic() - self._keys_at >= KEYS_REFRESH_SECONDS
        if self._keys is not None and not stale:
            return self._keys
        jwks_uri = (await self.metadata())["jwks_uri"]
        data = await self._get_json(jwks_uri)
        try:
            keys = KeySet.import_key_set({"keys": [k for k in data.get("keys", []) if k.get("use", "sig") == "sig"]})
        except (JoseError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise ProviderUnavailable(f"the {self.kind} provider's keys could not be read ({type(e).__name__})") from e
        self._keys, self._keys_at = keys, time.monotonic()
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise ProviderUnavailable(f"the {self.kind} provider did not answer at {url} ({type(e).__name__})") from e
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"the {self.kind} provider answered {url} with something not a JSON object")
        return data

    # -- the authorization code flow ---------------------------------------------------------------------------

    def _client(self, metadata: dict[str, Any]) -> AsyncOAuth2Client:
        auth = self.settings.client_auth
        secret = self._client_key if auth == "private_key_jwt" else self.settings.client_secret
        client = AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=secret,
            token_endpoint_auth_method=auth,
            scope=self.settings.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT,
        )
        if auth == "private_key_jwt":
            client.register_client_auth_method(PrivateKeyJWT(metadata["token_endpoint"]))
        return client

    async def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        metadata = await self.metadata()
        async with self._client(metadata) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"], state=state, code_verifier=code_verifier, nonce=nonce
            )
        return str(url)

    async def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        """The provider's tokens for the code it sent back (the PKCE verifier proves this gateway asked for it)."""
        metadata = await self.metadata()
        try:
            async with self._client(metadata) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
        except httpx.HTTPError as e:
            raise ProviderUnavailable(f"the {self.kind} provider's token endpoint failed ({type(e).__name__})") from e
        except (AuthlibBaseError, ValueError, KeyError) as e:  # OAuthError and kin: the provider refused the code
            raise TokenRefused(f"the provider refused the sign-in code ({type(e).__name__})") from e
        return dict(token)

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        metadata = await self.metadata()
        endpoint = metadata.get("userinfo_endpoint")
        if not endpoint:
            raise ProviderUnavailable(f"the {self.kind} provider has no userinfo endpoint")
        try:
            response = await self.http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise ProviderUnavailable(f"the {self.kind} provider's userinfo failed ({type(e).__name__})") from e
        return data if isinstance(data, dict) else {}

    # -- tokens ------------------------------------------------------------------------------------------------

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        claims = await self.verify(id_token, audience=self.settings.client_id or "", nonce=nonce)
        azp = claims.get("azp")
        if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and azp != self.settings.client_id:
            raise TokenRefused("the ID token is for several audiences and not authorised for this client")
        return claims

    async def verify_access_token(self, token: str, audience: str) -> dict[str, Any]:
        claims = await self.verify(token, audience=audience)
        # An ID token is not an access token: it carries the sign-in's nonce, or a hash of the access token issued
        # with it, or the time of sign-in; an access token carries the scopes or roles it grants (Entra ID: scp or
        # roles; Keycloak and most others: scope), and RFC 9068's say so in their header (typ at+jwt).
        if any(claim in claims for claim in ("nonce", "at_hash", "c_hash")):
            raise TokenRefused("an ID token is not an access token")
        if not any(claims.get(claim) for claim in ("scp", "scope", "roles")):
            raise TokenRefused("the token grants no scope or role: an access token for the API says what it grants")
        return claims

    async def verify(self, token: str, *, audience: str, nonce: str | None = None) -> dict[str, Any]:
        """The token's claims, if its signature is the provider's and its issuer, audience and times are right."""
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise TokenRefused("not a signed JWT")
        keys = await self.key_set()
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
        except InvalidKeyIdError:  # a key not yet seen: the provider may have rotated its keys
            keys = await self.key_set(refresh=True)
            try:
                decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
            except (JoseError, ValueError, KeyError, TypeError) as e:
                raise TokenRefused(_why(e)) from None
        except (JoseError, ValueError, KeyError, TypeError) as e:
            raise TokenRefused(_why(e)) from None
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": await self.issuer()},
            "aud": {"essential": True, "value": audience},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(now=lambda: int(self.clock.now().timestamp()), leeway=self.leeway, **options)
        try:
            registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as e:
            raise TokenRefused(_why(e)) from None
        return dict(decoded.claims)


def _why(error: Exception) -> str:
    if isinstance(error, ExpiredTokenError):
        return "the token has expired"
    if isinstance(error, BadSignatureError):
        return "the token's signature is not the identity provider's"
    if isinstance(error, InvalidKeyIdError):
        return "the token is signed with a key the identity provider does not publish"
    if isinstance(error, InvalidClaimError | MissingClaimError):
        claim = getattr(error, "claim", None) or str(error)
        return f"the token's {claim} claim is missing or not what this gateway accepts"
    return f"the token could not be read ({type(error).__name__})"
