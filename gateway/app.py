"""The gateway application: middleware, system routes and the entry points' route table."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from opentelemetry import trace

from gateway import catalog_export, oauth_routes, openapi, portal_site, problems, signin_pages
from gateway.endpoints import endpoint, json_response, reserved_words, router_path
from gateway.identity_routes import LIMITS
from gateway.languages import negotiate
from gateway.problems import Problem
from gateway.ratelimit import LoginLimits
from gateway.routes import ROUTES
from gateway.security import CorsPolicy, cors_middleware, security_headers
from gateway.upstream import Upstream
from runtime import logs, metrics, natsauth, telemetry
from runtime.auth import KEY_ROTATED_SUBJECT, TokenVerifier
from runtime.bus import nats as bus_nats
from runtime.config import Settings
from runtime.revocation import EndedSessions, from_identity

log = logs.get(__name__)

MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

UPSTREAM: web.AppKey[Upstream] = web.AppKey("upstream", Upstream)
# `http.server.request.duration`, served on the metrics port (runtime.metrics), not here.
_REQUEST_DURATION = metrics.HttpRecorder()


def _as_problem(exc: web.HTTPException) -> Problem:
    """aiohttp's own errors (no such route, wrong method, body too large) as problems."""
    detail = {
        404: "no such route",
        405: "the route does not accept this method",
        413: f"the body is larger than {MAX_BODY_BYTES} bytes",
    }.get(exc.status, exc.reason)
    return Problem(exc.status, exc.reason, detail, headers=dict(exc.headers))


@web.middleware
async def observe(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """One server span per request, a `traceresponse` header, one log line, and problem+json
    for every error, including those raised by aiohttp itself."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    incoming_id = request.headers.get("X-Request-Id", "")
    request_id = incoming_id if _REQUEST_ID.match(incoming_id) else uuid.uuid4().hex
    started = time.perf_counter()
    span, span_token = telemetry.start_span(
        f"{request.method} {route}",
        parent=telemetry.extract(request.headers),
        kind=trace.SpanKind.SERVER,
        attributes={
            "http.request.method": request.method,
            "http.route": route,
            "smartcity.request_id": request_id,
        },
    )
    structlog.contextvars.bind_contextvars(request_id=request_id)
    language = negotiate(request.headers.get("Accept-Language"))
    try:
        try:
            response = await handler(request)
        except Problem as problem:
            response = problems.response(problem, request.path, language=language)
        except web.HTTPException as exc:
            response = problems.response(_as_problem(exc), request.path, language=language)
        except ConnectionResetError:
            # The client went away before sending its whole body: its fault, not the gateway's
            # (no error, no traceback; nobody reads the answer).
            log.warning("request_abandoned", route=route)
            response = problems.response(
                Problem(400, "Incomplete request", "the connection closed before the whole body"),
                request.path,
                language=language,
            )
        except Exception as exc:
            log.exception("request_failed", route=route, error=type(exc).__name__)
            span.record_exception(exc)
            response = problems.response(
                Problem(500, "Internal error", "the gateway failed; the trace id identifies it"),
                request.path,
                language=language,
            )
        status = response.status
        elapsed = time.perf_counter() - started
        _REQUEST_DURATION.record(request.method, route, status, elapsed)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(trace.StatusCode.ERROR, f"HTTP {status}")
        ctx = span.get_span_context()
        response.headers["traceresponse"] = (
            f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
        )
        response.headers["X-Request-Id"] = request_id
        log.info(
            "request",
            method=request.method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 3),
            request_id=request_id,
        )
        return response
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
        telemetry.finish(span, span_token)


async def healthz(request: web.Request) -> web.StreamResponse:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.StreamResponse:
    services = await request.app[UPSTREAM].health()
    ready = all(status == "SERVING" for status in services.values())
    body = {"status": "ready" if ready else "not ready", "services": services}
    if ready:
        return json_response(body)
    return json_response(body, status=503, headers={"Retry-After": problems.RETRY_AFTER_SECONDS})


class PublishedKeys:
    """The JWKS as the gateway serves it: cached briefly (every client of every service asks),
    and dropped at once when identity announces a rotation."""

    def __init__(self, upstream: Upstream, *, max_age: float = 60.0) -> None:
        self._upstream = upstream
        self._max_age = max_age
        self._text = ""
        self._fetched = 0.0

    def clear(self) -> None:
        self._text = ""

    async def text(self) -> str:
        if not self._text or time.monotonic() - self._fetched > self._max_age:
            self._text = await self._upstream.fetch_jwks()
            self._fetched = time.monotonic()
        return self._text


KEYS: web.AppKey[PublishedKeys] = web.AppKey("published_keys", PublishedKeys)


async def jwks(request: web.Request) -> web.StreamResponse:
    text = await request.app[KEYS].text()
    return web.Response(
        text=text,
        content_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=60"},
    )


def ended_sessions(settings: Settings, upstream: Upstream) -> EndedSessions:
    """The sessions whose tokens the gateway refuses: it hears identity's feed (no credentials
    needed), and fails closed when it can neither hear nor ask identity."""
    feed = from_identity(lambda: upstream.identity)
    return EndedSessions(feed, stale_seconds=settings.revocation_stale_ms / 1000)


def create_app(settings: Settings, *, upstream: Upstream | None = None) -> web.Application:
    upstream = upstream or Upstream.connect(settings)
    sessions = ended_sessions(settings, upstream)
    verifier = TokenVerifier(upstream.fetch_jwks, issuer=settings.issuer, sessions=sessions)
    keys = PublishedKeys(upstream)
    app = web.Application(
        middlewares=[
            security_headers,
            observe,
            cors_middleware(CorsPolicy.from_environ(os.environ)),
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[UPSTREAM] = upstream
    app[KEYS] = keys
    app[LIMITS] = LoginLimits.from_environ(os.environ)
    # absolute links in exports (DCAT) name the public URL, not whatever host a proxy used
    app[catalog_export.PUBLIC_URL] = settings.issuer
    reserved = reserved_words(ROUTES)
    for route in ROUTES:
        app.router.add_route(
            route.method,
            router_path(route, reserved),
            endpoint(route, upstream=upstream, verifier=verifier),
        )
    spec = openapi.document(ROUTES, server=settings.issuer)
    discovery = oauth_routes.openid_configuration(settings)

    async def openapi_json(request: web.Request) -> web.StreamResponse:
        return json_response(spec)

    async def openid_json(request: web.Request) -> web.StreamResponse:
        return json_response(discovery, headers={"Cache-Control": "public, max-age=3600"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/.well-known/openid-configuration", openid_json)
    # the web portal's static pages: outside ROUTES, so not in the API document
    portal_site.add_routes(app)
    # The authorization endpoint's HTML pages: not API routes, so not in the OpenAPI document.
    signin_pages.install(app, settings, upstream)

    handlers = verifier.signal_handlers()
    refresh_keys = handlers[KEY_ROTATED_SUBJECT]

    async def key_rotated(data: bytes) -> None:
        keys.clear()
        await refresh_keys(data)

    handlers[KEY_ROTATED_SUBJECT] = key_rotated

    async def follow_identity(app: web.Application) -> AsyncIterator[None]:
        """Key rotations and ended sessions take effect here the moment identity says so."""
        task = asyncio.create_task(
            bus_nats.follow_forever(
                settings.nats_url,
                name="smartcity-gateway",
                handlers=handlers,
                # its own NATS identity: it may hear these subjects and nothing else
                seed=settings.nats_seed,
                inbox_prefix=natsauth.inbox_prefix("gateway"),
            )
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def hear_ended_sessions(app: web.Application) -> AsyncIterator[None]:
        """Identity's feed of ended sessions, over gRPC: it needs no NATS."""
        task = asyncio.create_task(sessions.follow())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close_upstream(app: web.Application) -> None:
        await upstream.close()

    async def serve_metrics(app: web.Application) -> AsyncIterator[None]:
        """Prometheus metrics on their own port (SMARTCITY_GATEWAY_METRICS_PORT), never on the
        entry points."""
        metrics.configure(service="gateway", settings=settings)
        yield
        metrics.shutdown()

    app.cleanup_ctx.append(serve_metrics)
    app.cleanup_ctx.append(hear_ended_sessions)
    app.cleanup_ctx.append(follow_identity)
    app.on_cleanup.append(close_upstream)
    return app
