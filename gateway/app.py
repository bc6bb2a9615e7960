"""The gateway application: middleware, system routes and the entry points' route table."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from opentelemetry import trace

from gateway import openapi, problems
from gateway.endpoints import endpoint, json_response
from gateway.problems import Problem
from gateway.routes import ROUTES
from gateway.upstream import Upstream
from runtime import logs, telemetry
from runtime.auth import TokenVerifier
from runtime.config import Settings

log = logs.get(__name__)

MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

UPSTREAM: web.AppKey[Upstream] = web.AppKey("upstream", Upstream)


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
    try:
        try:
            response = await handler(request)
        except Problem as problem:
            response = problems.response(problem, request.path)
        except web.HTTPException as exc:
            response = problems.response(_as_problem(exc), request.path)
        except Exception as exc:
            log.exception("request_failed", route=route, error=type(exc).__name__)
            span.record_exception(exc)
            response = problems.response(
                Problem(500, "Internal error", "the gateway failed; the trace id identifies it"),
                request.path,
            )
        status = response.status
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
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
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


async def jwks(request: web.Request) -> web.StreamResponse:
    text = await request.app[UPSTREAM].fetch_jwks()
    return web.Response(text=text, content_type="application/jwk-set+json")


def create_app(settings: Settings, *, upstream: Upstream | None = None) -> web.Application:
    upstream = upstream or Upstream.connect(settings)
    verifier = TokenVerifier(upstream.fetch_jwks)
    app = web.Application(middlewares=[observe], client_max_size=MAX_BODY_BYTES)
    app[UPSTREAM] = upstream
    for route in ROUTES:
        app.router.add_route(
            route.method, route.path, endpoint(route, upstream=upstream, verifier=verifier)
        )
    spec = openapi.document(ROUTES)

    async def openapi_json(request: web.Request) -> web.StreamResponse:
        return json_response(spec)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/.well-known/jwks.json", jwks)

    async def close_upstream(app: web.Application) -> None:
        await upstream.close()

    app.on_cleanup.append(close_upstream)
    return app
