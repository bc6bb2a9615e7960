"""Browser-facing protections: security headers on every response and CORS per entry point.

Wire both into the application in this order (outermost first)::

    middlewares=[security_headers, observe, cors_middleware(policy)]

`security_headers` wraps what `observe` returns, problem responses included. The CORS middleware
sits inside `observe` so that a refused preflight is logged, traced and rendered as problem+json
like any other error; it answers preflights itself, before routing turns an `OPTIONS` into 405.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from gateway.endpoints import ENTRY_POINTS
from gateway.problems import Problem
from runtime.config import ConfigError

WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # A JSON API loads nothing and is framed by no one.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-site",
    # Browsers ignore it over plain HTTP, so it is safe to send from the embedded mode too.
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, traceparent"
EXPOSE_HEADERS = "X-Request-Id, traceresponse, Location, Retry-After"
PREFLIGHT_MAX_AGE = "600"
WILDCARD = "*"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def entry_point(path: str) -> str | None:
    """`public`, `office` or `partner` when the path lies under that entry point, else None."""
    segments = path.split("/", 2)
    if len(segments) >= 2 and segments[0] == "" and segments[1] in ENTRY_POINTS:
        return segments[1]
    return None


def _apply_security_headers(path: str, headers: CIMultiDict[str]) -> None:
    # setdefault: a handler that knows better (a portal page's own CSP) keeps its choice.
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if entry_point(path) is not None:
        # Tokens and personal data: no cache, shared or private, may keep them.
        headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def security_headers(request: web.Request, handler: WebHandler) -> web.StreamResponse:
    """Security headers on every response, errors included; put it before (outside) `observe`."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _apply_security_headers(request.path, exc.headers)
        raise
    if not response.prepared:  # a streamed response has already sent its headers
        _apply_security_headers(request.path, response.headers)
    return response


def _origin(variable: str, raw: str) -> str:
    """The origin as browsers send it in `Origin`: lower case, no default port."""
    problem = (
        f"{variable}: {raw!r} is not an origin; "
        "write scheme://host[:port] with http or https and no path, e.g. https://gov.example"
    )
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(problem) from None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if (
        scheme not in _DEFAULT_PORTS
        or parts.path
        or parts.query
        or parts.fragment
        or "?" in raw
        or "#" in raw
        or parts.username is not None
        or not host
    ):
        raise ConfigError(problem)
    if parts.netloc.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(problem) from None
        host = f"[{host}]"
    elif not _HOSTNAME.match(host):
        raise ConfigError(problem)
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _origins(environ: Mapping[str, str], *, entry: str) -> frozenset[str]:
    variable = f"SMARTCITY_CORS_{entry.upper()}_ORIGINS"
    values = [v.strip() for v in environ.get(variable, "").split(",") if v.strip()]
    if WILDCARD in values:
        if entry != "public":
            raise ConfigError(
                f"{variable}: '*' is allowed only for the public entry point; "
                "list the exact origins of the staff and partner applications"
            )
        if len(values) > 1:
            raise ConfigError(f"{variable}: '*' already allows every origin; list nothing else")
        return frozenset({WILDCARD})
    return frozenset(_origin(variable, value) for value in values)


@dataclass(frozen=True, kw_only=True)
class CorsPolicy:
    """Which web origins may call each entry point from a browser; empty means none may.

    Credentials are never allowed: the gateway authenticates with bearer tokens that the
    application puts in `Authorization`, not with cookies, so no origin needs them.
    """

    public: frozenset[str] = frozenset()
    office: frozenset[str] = frozenset()
    partner: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for entry in ("office", "partner"):
            if WILDCARD in self.origins(entry):
                raise ValueError(f"'*' is allowed only for the public entry point, not {entry}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CorsPolicy:
        """Read `SMARTCITY_CORS_{PUBLIC,OFFICE,PARTNER}_ORIGINS`: comma-separated origins.

        Raises ConfigError (a ValueError) naming the variable and the value it cannot use.
        """
        return cls(
            public=_origins(environ, entry="public"),
            office=_origins(environ, entry="office"),
            partner=_origins(environ, entry="partner"),
        )

    def origins(self, entry: str) -> frozenset[str]:
        allowed: frozenset[str] = getattr(self, entry)
        return allowed

    def allow_origin(self, entry: str, origin: str) -> str | None:
        """The `Access-Control-Allow-Origin` value for this origin, or None when refused."""
        allowed = self.origins(entry)
        if WILDCARD in allowed:
            return WILDCARD
        return origin if origin in allowed else None


def _add_vary_origin(headers: CIMultiDict[str]) -> None:
    vary = headers.get("Vary", "")
    names = {v.strip().lower() for v in vary.split(",")}
    if "origin" not in names and "*" not in names:
        headers["Vary"] = f"{vary}, Origin" if vary.strip() else "Origin"


def _preflight(request: web.Request, *, entry: str, policy: CorsPolicy) -> web.Response:
    origin = request.headers["Origin"]
    allow = policy.allow_origin(entry, origin)
    if allow is None:
        raise Problem(
            403,
            "Origin not allowed",
            f"the origin {origin!r} is not allowed to call the {entry} entry point from a browser",
        )
    headers = CIMultiDict(
        {
            "Access-Control-Allow-Origin": allow,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        }
    )
    if allow != WILDCARD:
        _add_vary_origin(headers)
    return web.Response(status=204, headers=headers)


def _add_cors_headers(headers: CIMultiDict[str], *, allow: str | None, varies: bool) -> None:
    if allow is not None:
        headers["Access-Control-Allow-Origin"] = allow
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    if varies:
        # The answer depends on Origin even when it refuses: caches must not mix them up.
        _add_vary_origin(headers)


def cors_middleware(policy: CorsPolicy) -> Middleware:
    """CORS for the three entry points; put it after (inside) `observe`.

    Preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) are answered here,
    without authentication and before routing, which registers no `OPTIONS` and would say 405.
    Requests from origins not allowed go through without CORS headers: the browser blocks them.
    """

    @web.middleware
    async def cors(request: web.Request, handler: WebHandler) -> web.StreamResponse:
        entry = entry_point(request.path)
        if entry is None:
            return await handler(request)
        origin = request.headers.get("Origin")
        if (
            request.method == "OPTIONS"
            and origin is not None
            and "Access-Control-Request-Method" in request.headers
        ):
            return _preflight(request, entry=entry, policy=policy)
        allowed = policy.origins(entry)
        allow = None if origin is None else policy.allow_origin(entry, origin)
        varies = bool(allowed) and WILDCARD not in allowed
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            # Errors too: the application must be able to read the problem and its trace id.
            _add_cors_headers(exc.headers, allow=allow, varies=varies)
            raise
        if not response.prepared:
            _add_cors_headers(response.headers, allow=allow, varies=varies)
        return response

    return cors
