"""Who is calling: access tokens verified against the identity service's JWKS.

The gateway verifies every token and forwards it; each service verifies it again (zero trust).
Verified tokens are cached until they expire, keyed by the token itself, so the signature check
happens once per token and process rather than once per request. A token whose session has ended
is refused although it has not expired: see `runtime.revocation` for how a verifier knows, and
how it fails closed when it cannot. Every gRPC method declares who may call it with
`@allow(...)` beside its implementation; a method without a policy is denied.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jwt
import orjson

from runtime.bus import contracts
from runtime.errors import PermissionDenied, Unauthenticated, UpstreamUnavailable
from runtime.revocation import EndedSessions
from smartcity.identity.v1 import events_pb2 as identity_events

ALGORITHMS = ["EdDSA"]
AUDIENCES = ("public", "office", "partner", "service")
# The access tokens of third-party applications (OpenID Connect): they open only userinfo, so
# no entry point's API and no service accepts them.
USERINFO_AUDIENCE = "userinfo"
# OpenID Connect as identity issues it and discovery advertises it: written once, here.
OIDC_SCOPES = ("openid", "profile", "offline_access")
ID_TOKEN_ALGORITHMS = ("RS256", "EdDSA")  # RS256 first: the specification's default
# Identity announces a rotation here; every verifier refreshes its JWKS on hearing it.
KEY_ROTATED_SUBJECT = contracts.event_type(identity_events.SigningKeyRotated).subject
# Identity announces ended sessions here; every verifier refuses their tokens from then on.
SESSIONS_ENDED_SUBJECT = contracts.event_type(identity_events.SessionsEnded).subject
# RFC 9068: an access token says so in its header, so no other JWT can pass for one.
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret

# The platform's own (first-party) clients that sign people in on each entry point: RFC 9068's
# `client_id` of their tokens. Partners and services sign in as themselves and carry their own.
FIRST_PARTY_CLIENTS: dict[str, str] = {"public": "smartcity-portal", "office": "smartcity-office"}

# Subject types, as the `kind` claim carries them.
CITIZEN = "citizen"
ENTERPRISE_AGENT = "enterprise_agent"
STAFF = "staff"
PARTNER = "partner"
SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `token` is forwarded to services, never logged."""

    subject: str
    audience: str
    kind: str
    department: str = ""
    roles: frozenset[str] = frozenset()
    enterprise: str = ""  # enterprise agents: the enterprise they act for
    # RFC 9068 `client_id`: a partner's or service's own; a first-party client's for people.
    client: str = ""
    session: str = ""
    # Staff who have not enrolled a second factor yet may only enrol it.
    second_factor_pending: bool = False
    expires_at: float = 0.0
    token: str = field(default="", repr=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Policy:
    """Who may call a method. Methods without a policy are denied (denial is the default)."""

    audiences: tuple[str, ...] = ()
    # Any one of these, when given, for callers that are not staff (service clients): staff are
    # judged by the role table (runtime/roles.py), which the gRPC server applies per method.
    roles: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # subject types, when given
    anonymous: bool = False
    # Methods a member of staff needs before enrolling a second factor (enrol, who am I, logout).
    second_factor_optional: bool = False

    def check(self, principal: Principal | None) -> None:
        if self.anonymous:
            return
        if principal is None:
            raise Unauthenticated("an access token is required")
        if self.audiences and principal.audience not in self.audiences:
            raise PermissionDenied(f"tokens for audience {principal.audience!r} may not call this")
        if principal.second_factor_pending and not self.second_factor_optional:
            raise PermissionDenied("enrol a second factor (TOTP) first")
        if self.kinds and principal.kind not in self.kinds:
            raise PermissionDenied(f"callers of type {principal.kind!r} may not call this")
        if (
            self.roles
            and principal.kind != STAFF
            and not any(principal.has_role(r) for r in self.roles)
        ):
            raise PermissionDenied("requires one of the roles: " + ", ".join(self.roles))

    def but(self, **changes: Any) -> Policy:
        """This policy with some fields changed: `OFFICE.but(roles=("auditor",))`."""
        return dataclasses.replace(self, **changes)


ANONYMOUS = Policy(anonymous=True)
SIGNED_IN = Policy(audiences=AUDIENCES)
PUBLIC = Policy(audiences=("public",))
OFFICE = Policy(audiences=("office",))
PARTNER_ONLY = Policy(audiences=("partner",))

F = TypeVar("F", bound=Callable[..., Any])
_POLICY_ATTR = "__smartcity_policy__"


def allow(policy: Policy) -> Callable[[F], F]:
    """Declare who may call a gRPC method, on the line above its implementation."""

    def mark(method: F) -> F:
        setattr(method, _POLICY_ATTR, policy)
        return method

    return mark


def policies_of(servicer: type, service: str) -> dict[str, Policy]:
    """The policy map of a servicer class, keyed by full method path (`/pkg.Service/Method`)."""
    found: dict[str, Policy] = {}
    for name in dir(servicer):
        policy = getattr(getattr(servicer, name), _POLICY_ATTR, None)
        if isinstance(policy, Policy):
            found[f"/{service}/{name}"] = policy
    return found


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "smartcity_principal", default=None
)


def current_principal() -> Principal | None:
    """The caller of the gRPC method being served, if any (None for the service's own work)."""
    return _current.get()


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
    """Verifies access tokens against the JWKS, fetched lazily, again when a token names a key
    not seen yet (at most once per `refetch_interval`: forged kids cannot flood identity), and
    at once when identity announces a rotation (`refresh`). Refuses the tokens of ended
    `sessions` (without them: only of the sessions it hears end, trusting what it hears)."""

    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        issuer: str,
        cache_size: int = 10_000,
        refetch_interval: float = 1.0,
        leeway: float = 30.0,
        sessions: EndedSessions | None = None,
    ) -> None:
        self._fetch = fetch_jwks
        self._issuer = issuer
        self._keys: dict[str, Any] = {}
        # token -> (principal, kid): the kid lets a refresh drop tokens of removed keys.
        self._cache: OrderedDict[str, tuple[Principal, str]] = OrderedDict()
        self._cache_size = cache_size
        self._refetch_interval = refetch_interval
        self._last_fetch = -refetch_interval
        self._leeway = leeway
        self._lock = asyncio.Lock()
        self.sessions = sessions if sessions is not None else EndedSessions()

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def end_sessions(self, session_ids: Iterable[str]) -> None:
        """Refuse the tokens of these sessions from now on, though they have not expired."""
        self.sessions.end(session_ids)

    def signal_handlers(self) -> dict[str, Callable[[bytes], Awaitable[None]]]:
        """What a verifier does on hearing identity's announcements (payloads from `proto/`)."""

        async def key_rotated(data: bytes) -> None:
            await self.refresh()

        async def sessions_ended(data: bytes) -> None:
            from smartcity.identity.v1 import events_pb2

            event = events_pb2.SessionsEnded()
            event.ParseFromString(data)
            self.end_sessions(event.session_ids)

        return {KEY_ROTATED_SUBJECT: key_rotated, SESSIONS_ENDED_SUBJECT: sessions_ended}

    def load_jwks(self, jwks_json: str) -> None:
        keys: dict[str, Any] = {}
        for jwk in orjson.loads(jwks_json).get("keys", []):
            if jwk.get("alg") not in ALGORITHMS or jwk.get("use", "sig") != "sig":
                continue
            try:
                keys[str(jwk["kid"])] = jwt.PyJWK(jwk).key
            except (KeyError, jwt.PyJWKError, ValueError, TypeError):
                continue  # one malformed key must not stop the others from verifying
        self._keys = keys
        # A key that left the set no longer vouches for the tokens it signed.
        for token in [t for t, (_, kid) in self._cache.items() if kid not in keys]:
            del self._cache[token]

    async def refresh(self) -> None:
        """Fetch the JWKS now (identity rotated its keys)."""
        async with self._lock:
            await self._load()

    async def _load(self) -> None:
        self._last_fetch = time.monotonic()
        try:
            self.load_jwks(await self._fetch())
        except Exception as exc:
            # 503, not 401: the token may be good, and a client told it is not would drop it.
            raise UpstreamUnavailable(
                "identity", cause="cannot fetch the keys that verify access tokens"
            ) from exc

    async def _key_for(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is not None:
            return key
        arrived = time.monotonic()
        async with self._lock:
            # A fetch made while this request queued answers it too: a burst of forged kids
            # costs one fetch per interval, and never holds up a genuine token for longer.
            if kid not in self._keys and self._last_fetch < arrived:
                # A new key may have been published a moment after the last fetch: wait out
                # the interval rather than fail a genuine token.
                wait = self._last_fetch + self._refetch_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._load()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the token was signed with an unknown key")
        return key

    # Complex on purpose: each claim checked in turn, each refusal naming it.
    async def verify(self, token: str, *, audiences: Iterable[str] = AUDIENCES) -> Principal:  # noqa: C901 (each claim checked in turn, each refusal naming it)  # noqa: C901
        """The token's principal, or Unauthenticated naming what is wrong with it."""
        wanted = tuple(audiences)
        cached = self._cache.get(token)
        if cached is not None and cached[0].expires_at + self._leeway > time.time():
            if cached[0].audience not in wanted:
                raise Unauthenticated("the access token is not for this entry point")
            if cached[0].session:
                await self._check_session(cached[0].session)
            return cached[0]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is malformed") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in ALGORITHMS:
            raise Unauthenticated("the access token has no kid or an unsupported algorithm")
        if str(header.get("typ", "")).lower().removeprefix("application/") != TOKEN_TYPE:
            raise Unauthenticated(f"the token is not an access token (typ {TOKEN_TYPE})")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=list(wanted),
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "nbf", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the access token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the access token is not for this entry point") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the access token was issued by someone else") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is invalid") from None
        principal = _principal(claims, token)
        if principal.session:
            await self._check_session(principal.session)
        self._cache[token] = (principal, kid)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _check_session(self, session: str) -> None:
        """Unauthenticated when the session has ended; Unavailable when that cannot be told."""
        sessions = self.sessions
        if not sessions.live():
            await sessions.catch_up()
        if session in sessions.ended:
            raise Unauthenticated("the session of this access token has ended")


def _principal(claims: dict[str, Any], token: str) -> Principal:
    aud = claims["aud"]
    return Principal(
        subject=str(claims["sub"]),
        audience=aud if isinstance(aud, str) else str(aud[0]),
        kind=str(claims.get("kind", "")),
        department=str(claims.get("dept", "")),
        roles=frozenset(claims.get("roles", ())),
        enterprise=str(claims.get("ent", "")),
        client=str(claims.get("client_id", "")),
        session=str(claims.get("sid", "")),
        second_factor_pending=bool(claims.get("enrol_2fa", False)),
        expires_at=float(claims["exp"]),
        token=token,
    )
