"""Who is calling: access tokens verified against the identity service's JWKS.

The gateway verifies every token and forwards it; each service verifies it again (zero trust).
Verified tokens are cached until they expire, keyed by the token itself, so the signature check
happens once per token and process rather than once per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson

from runtime.errors import PermissionDenied, Unauthenticated

ISSUER = "smartcity-identity"
ALGORITHMS = ["EdDSA"]
AUDIENCES = ("public", "office", "partner", "service")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `token` is forwarded to services, never logged."""

    subject: str
    audience: str
    kind: str
    department: str = ""
    roles: frozenset[str] = frozenset()
    expires_at: float = 0.0
    token: str = field(default="", repr=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Policy:
    """Who may call a method. Methods without a policy are denied (denial is the default)."""

    audiences: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # any one of these, when given
    anonymous: bool = False

    def check(self, principal: Principal | None) -> None:
        if self.anonymous:
            return
        if principal is None:
            raise Unauthenticated("an access token is required")
        if self.audiences and principal.audience not in self.audiences:
            raise PermissionDenied(f"tokens for audience {principal.audience!r} may not call this")
        if self.roles and not any(principal.has_role(r) for r in self.roles):
            raise PermissionDenied("requires one of the roles: " + ", ".join(self.roles))


ANONYMOUS = Policy(anonymous=True)

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "smartcity_principal", default=None
)


def require_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("an access token is required")
    return principal


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


JwksFetcher = Callable[[], Awaitable[str]]


class TokenVerifier:
    """Verifies access tokens; fetches the JWKS lazily and again when a new `kid` appears."""

    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        cache_size: int = 10_000,
        refetch_interval: float = 5.0,
        leeway: float = 30.0,
    ) -> None:
        self._fetch = fetch_jwks
        self._keys: dict[str, Any] = {}
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size
        self._refetch_interval = refetch_interval
        self._last_fetch = 0.0
        self._leeway = leeway
        self._lock = asyncio.Lock()

    def load_jwks(self, jwks_json: str) -> None:
        keys: dict[str, Any] = {}
        for jwk in orjson.loads(jwks_json).get("keys", []):
            keys[jwk["kid"]] = jwt.PyJWK(jwk).key
        self._keys = keys

    async def _key_for(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            now = time.monotonic()
            if (key is None and now - self._last_fetch >= self._refetch_interval) or not self._keys:
                self._last_fetch = now
                try:
                    self.load_jwks(await self._fetch())
                except Exception as exc:
                    raise Unauthenticated(
                        "cannot verify tokens: the identity service is unreachable"
                    ) from exc
                key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the token was signed with an unknown key")
        return key

    async def verify(self, token: str, *, audiences: Iterable[str] = AUDIENCES) -> Principal:
        """The token's principal, or Unauthenticated naming what is wrong with it."""
        wanted = tuple(audiences)
        principal = self._cache.get(token)
        if principal is not None and principal.expires_at + self._leeway > time.time():
            if principal.audience not in wanted:
                raise Unauthenticated("the access token is not for this entry point")
            return principal
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is malformed") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in ALGORITHMS:
            raise Unauthenticated("the access token has no kid or an unsupported algorithm")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=list(wanted),
                issuer=ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the access token is not for this entry point") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is invalid") from None
        aud = claims["aud"]
        principal = Principal(
            subject=str(claims["sub"]),
            audience=aud if isinstance(aud, str) else str(aud[0]),
            kind=str(claims.get("kind", "")),
            department=str(claims.get("dept", "")),
            roles=frozenset(claims.get("roles", ())),
            expires_at=float(claims["exp"]),
            token=token,
        )
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal
