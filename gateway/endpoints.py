"""Declaring gateway routes: who may call each, what it takes and what it returns.

A route is data: the OpenAPI document is generated from the same table that serves requests,
and a route without an audience is open to anyone only when it says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import orjson
from aiohttp import web
from google.protobuf.message import Message

from gateway import jsonmap
from gateway.problems import Problem, from_domain, from_rpc_error
from gateway.upstream import CALL_TIMEOUT, Upstream
from runtime import grpcclient
from runtime.auth import Principal, TokenVerifier, bearer_token
from runtime.errors import DomainError

JSON = "application/json"
# The unified public service platform, the unified office platform, and the partners' (Art. 10).
ENTRY_POINTS: tuple[str, ...] = ("public", "office", "partner")


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it: who calls, with what, through which upstream."""

    request: web.Request
    upstream: Upstream
    principal: Principal | None
    body: Any

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata forwarding the caller's token: services verify it again."""
        if self.principal is None:
            return ()
        return (("authorization", f"Bearer {self.principal.token}"),)

    async def update_mask(self) -> list[str]:
        """The fields a PATCH body sends are the fields to change (its top-level keys)."""
        return sorted(await self.request.json())  # parsed and checked already: an object

    async def rpc(self, method: Any, request: Any) -> Any:
        """Call a service on the caller's behalf: their token, this request's trace."""
        return await grpcclient.call(method, request, timeout=CALL_TIMEOUT, metadata=self.metadata)


Handler = Callable[[Call], Awaitable[web.StreamResponse]]
WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, kw_only=True)
class QueryParam:
    name: str
    description: str
    type: str = "string"


PAGE_QUERY = (
    QueryParam(
        name="page_size", description="Items per page: at most 100, default 20.", type="integer"
    ),
    QueryParam(name="page_token", description="The next_page_token of the previous page."),
)


@dataclass(frozen=True, kw_only=True)
class Route:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    # "office", "public" or "partner"; None only with anonymous=True.
    audience: str | None = None
    anonymous: bool = False
    body: type[Message] | None = None
    read_only: frozenset[str] = frozenset()
    response: type[Message] | None = None
    status: int = 200
    query: tuple[QueryParam, ...] = ()
    idempotency_key: bool = False
    errors: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.audience is None and not self.anonymous:
            raise ValueError(f"route {self.method} {self.path} declares no audience")


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)


def message_response(
    message: Message, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return json_response(jsonmap.render(message), status=status, headers=headers)


def query_int(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "")
    if raw == "":
        return 0
    try:
        return int(raw)
    except ValueError:
        raise Problem(
            400, "Invalid query", f"query parameter {name!r} must be an integer"
        ) from None


async def _read_body(request: web.Request, route: Route) -> Any:
    if route.body is None:
        return None
    if not request.body_exists:
        # an action whose body is optional (a comment, say) may be sent without one
        return jsonmap.parse({}, route.body)
    if request.content_type != JSON:
        raise Problem(415, "Unsupported media type", "send the body as application/json")
    raw = await request.read()  # bounded by the app's client_max_size (413 beyond it)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Malformed JSON", f"the body is not valid JSON: {exc}") from None
    return jsonmap.parse(data, route.body, read_only=route.read_only)


def endpoint(route: Route, *, upstream: Upstream, verifier: TokenVerifier) -> WebHandler:
    """The aiohttp handler for a route: authenticate, parse, call, map errors."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            principal = None
            token = bearer_token(request.headers.get("Authorization"))
            if route.audience is not None:
                if token is None:
                    raise Problem(
                        401,
                        "Unauthenticated",
                        "an access token is required",
                        headers={"WWW-Authenticate": 'Bearer realm="smartcity"'},
                    )
                principal = await verifier.verify(token, audiences=(route.audience,))
            body = await _read_body(request, route)
            return await route.handler(Call(request, upstream, principal, body))
        except DomainError as exc:
            raise from_domain(exc) from None
        except grpc.aio.AioRpcError as exc:
            service = route.path.split("/")[3] if route.path.count("/") >= 3 else "upstream"
            raise from_rpc_error(exc, service=service) from None

    return handle
