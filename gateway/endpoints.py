"""Declaring gateway routes: who may call each, what it takes and what it returns.

A route is data: the OpenAPI document is generated from the same table that serves requests,
and a route without an audience is open to anyone only when it says so.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import orjson
from aiohttp import web
from google.protobuf.message import Message

from gateway import jsonmap
from gateway.problems import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    Problem,
    bearer_challenge,
    from_domain,
    from_rpc_error,
)
from gateway.upstream import CALL_TIMEOUT, CallFailed, Upstream
from runtime import constraints, fields, grpcclient, text
from runtime.auth import Principal, TokenVerifier, bearer_token
from runtime.errors import DomainError, FieldViolation, InvalidArgument
from runtime.grpcclient import Reply, Request
from runtime.rpc_types import UnaryMethod

JSON = "application/json"
IDEMPOTENCY_KEY = "Idempotency-Key"
# The unified public service platform, the unified office platform, and the partners' (Art. 10).
ENTRY_POINTS: tuple[str, ...] = ("public", "office", "partner")


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it: who calls, with what, through which upstream."""

    request: web.Request
    upstream: Upstream
    principal: Principal | None
    body: Any
    # The top-level keys of the JSON body: for a PATCH, the fields to change.
    sent: frozenset[str] = frozenset()

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata forwarding the caller's token: services verify it again."""
        if self.principal is None:
            return ()
        return (("authorization", f"Bearer {self.principal.token}"),)

    async def update_mask(self) -> list[str]:
        """The fields a PATCH body sends are the fields to change (its top-level keys)."""
        return sorted(self.sent)

    async def rpc(self, method: UnaryMethod[Request, Reply], request: Request) -> Reply:
        """Call a service on the caller's behalf: their token, this request's trace. A failure
        is a `CallFailed` that knows the service and where the request carries the body."""
        try:
            return await grpcclient.call(
                method, request, timeout=CALL_TIMEOUT, metadata=self.metadata
            )
        except grpc.aio.AioRpcError as exc:
            service = grpcclient.service_of(method) or "upstream"
            raise CallFailed(exc, service=service, body_field=self._body_field(request)) from None

    def _body_field(self, request: Message) -> str:
        """The field of `request` the handler put the JSON body in (`code` of an
        IssueAuthorisationCodeRequest), or empty when the body is the request itself."""
        if not isinstance(self.body, Message) or request is self.body:
            return ""
        for candidate in request.DESCRIPTOR.fields:
            if (
                candidate.message_type is self.body.DESCRIPTOR
                and not candidate.is_repeated
                and getattr(request, candidate.name) == self.body
            ):
                return str(candidate.name)
        return ""


Handler = Callable[[Call], Awaitable[web.StreamResponse]]
WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, kw_only=True)
class QueryParam:
    name: str
    description: str
    # "string", "integer" (an int32 field), "int64" or "boolean"
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
    # Further audiences whose tokens the route accepts (userinfo: every person's token).
    also_audiences: tuple[str, ...] = ()
    anonymous: bool = False
    body: type[Message] | None = None
    read_only: frozenset[str] = frozenset()
    response: type[Message] | None = None
    status: int = 200
    query: tuple[QueryParam, ...] = ()
    idempotency_key: bool = False
    errors: tuple[int, ...] = field(default=())
    # An application/x-www-form-urlencoded body the handler reads itself (OAuth 2.0 endpoints),
    # and the statuses it answers with an RFC 6749 error object instead of problem+json.
    form: tuple[QueryParam, ...] = ()
    oauth_errors: tuple[int, ...] = ()
    # Statuses answered with an HTML page for a person (a signed-out page), not JSON.
    pages: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.audience is None and not self.anonymous:
            raise ValueError(f"route {self.method} {self.path} declares no audience")

    @property
    def audiences(self) -> tuple[str, ...]:
        """Every audience whose tokens the route accepts."""
        return () if self.audience is None else (self.audience, *self.also_audiences)


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)


def message_response(
    message: Message, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return json_response(jsonmap.render(message), status=status, headers=headers)


# Methods whose body is the change itself: without one there is nothing to do.
_BODY_REQUIRED = frozenset({"PATCH", "PUT"})


def _absent_body(request: web.Request, route: Route) -> tuple[Any, frozenset[str]]:
    assert route.body is not None
    if route.method in _BODY_REQUIRED:
        raise Problem(
            400,
            "Missing body",
            f"a {request.method} needs a JSON object body: what to change",
            violations=[FieldViolation("body", "is required")],
        )
    if body_required(route):
        missing = ", ".join(sorted(fields.required(route.body.DESCRIPTOR) - read_only(route)))
        raise Problem(
            400,
            "Missing body",
            f"this route needs a JSON object body with {missing}",
            violations=[FieldViolation("body", "is required")],
        )
    # an action whose body is optional (a comment, say) may be sent without one
    return jsonmap.parse({}, route.body), frozenset()


def _check_declared(route: Route, message: Message, data: dict[str, Any]) -> None:
    """422 naming each rule declared in proto that the body breaks (runtime.constraints, the
    same check every gRPC server makes), and each REQUIRED field it leaves out, null or empty
    (proto3 cannot tell an empty text from an absent one). Fields the caller may not send are
    not checked: the gateway or the server sets them. For a PATCH only the fields sent are."""
    assert route.body is not None
    refused = read_only(route)
    if route.method in _BODY_REQUIRED:
        refused = refused | (frozenset(route.body.DESCRIPTOR.fields_by_name) - frozenset(data))
    found = constraints.violations(message, skip=refused)
    if found:
        raise InvalidArgument(found)


async def _read_body(request: web.Request, route: Route) -> tuple[Any, frozenset[str]]:
    """The route's body message and the top-level keys it was sent with."""
    if route.body is None:
        return None, frozenset()
    if not request.body_exists:
        return _absent_body(request, route)
    if request.content_type != JSON:
        raise Problem(415, "Unsupported media type", "send the body as application/json")
    raw = await request.read()  # bounded by the app's client_max_size (413 beyond it)
    if not raw.strip():  # chunked, or Content-Length given, and nothing in it
        return _absent_body(request, route)
    try:
        data = jsonmap.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Malformed JSON", f"the body is not valid JSON: {exc}") from None
    except jsonmap.DuplicateKey as exc:
        raise Problem(
            400,
            "Duplicate key",
            f"a JSON object names a key twice: {', '.join(exc.paths)}",
            violations=[FieldViolation(path, "appears twice in its object") for path in exc.paths],
        ) from None
    if not isinstance(data, dict):
        raise Problem(
            400,
            "Malformed body",
            "the body must be a JSON object",
            violations=[FieldViolation("body", "must be a JSON object")],
        )
    message = jsonmap.parse(data, route.body, read_only=read_only(route))
    _check_declared(route, message, data)
    return message, frozenset(data)


def _check_headers(request: web.Request) -> None:
    """The headers whose text reaches a token check or a request message: a byte that was not
    UTF-8 (kept as a lone surrogate) would fail there, as a 500."""
    if not request.headers.get("Authorization", "").isascii():  # RFC 6750: a b64token
        raise Problem(
            401,
            "Unauthenticated",
            "the Authorization header must be 'Bearer <token>', in ASCII",
            headers={"WWW-Authenticate": bearer_challenge()},
        )
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is not None and (character := text.unsafe_character(key)) is not None:
        raise Problem(
            400,
            "Invalid header",
            f"{IDEMPOTENCY_KEY} must not contain control characters (found {character})",
            violations=[text.violation(IDEMPOTENCY_KEY, character)],
        )


def refusing_token(problem: Problem, *, presented: bool) -> Problem:
    """The problem with RFC 6750's challenge when it refuses a presented bearer token: a 401
    says `invalid_token` (and why), a 403 `insufficient_scope`. Without a token: unchanged."""
    if presented and problem.status_code in (401, 403):
        error = INVALID_TOKEN if problem.status_code == 401 else INSUFFICIENT_SCOPE
        problem.headers["WWW-Authenticate"] = bearer_challenge(error, problem.detail)
    return problem


def endpoint(route: Route, *, upstream: Upstream, verifier: TokenVerifier) -> WebHandler:
    """The aiohttp handler for a route: authenticate, parse, call, map errors.

    Only routes with an audience read `Authorization`: an anonymous route (a token endpoint
    taking HTTP Basic client credentials) reads its own credentials."""

    async def handle(request: web.Request) -> web.StreamResponse:
        presented = False
        try:
            principal = None
            _check_headers(request)
            if route.audience is not None:
                authorization = request.headers.get("Authorization")
                presented = bool(authorization)
                token = bearer_token(authorization)
                if token is None:
                    raise Problem(
                        401,
                        "Unauthenticated",
                        "an access token is required",
                        headers={"WWW-Authenticate": bearer_challenge()},
                    )
                principal = await verifier.verify(token, audiences=route.audiences)
            body, sent = await _read_body(request, route)
            return await route.handler(Call(request, upstream, principal, body, sent))
        except jsonmap.OutOfRange as exc:
            detail = "; ".join(f"{v.field} {v.description}" for v in exc.violations)
            raise Problem(400, "Number out of range", detail, violations=exc.violations) from None
        except DomainError as exc:
            raise refusing_token(from_domain(exc), presented=presented) from None
        except CallFailed as exc:
            problem = from_rpc_error(exc, service=exc.service, body_field=exc.body_field)
            raise refusing_token(problem, presented=presented) from None
        except grpc.aio.AioRpcError as exc:
            service = route.path.split("/")[3] if route.path.count("/") >= 3 else "upstream"
            raise refusing_token(
                from_rpc_error(exc, service=service), presented=presented
            ) from None

    return handle


def path_parameters(path: str) -> tuple[str, ...]:
    """The names of a route path's parameters (`{id}`), in order."""
    return tuple(part[1:-1] for part in path.split("/") if part.startswith("{"))


def reserved_words(routes: tuple[Route, ...]) -> dict[tuple[str, int], frozenset[str]]:
    """For each path parameter (path, segment index), the literal segments that other routes
    put in the same place under the same prefix: `verify` beside `/office/v1/licences/{id}`.
    Such a word names its own resource, never an id: routing keeps them apart, so a method the
    word does not take is a 405 that lists only its own methods in `Allow`."""

    def shape(segments: list[str]) -> tuple[str, ...]:
        return tuple("{}" if s.startswith("{") else s for s in segments)

    literals: dict[tuple[str, ...], set[str]] = {}
    for route in routes:
        segments = route.path.split("/")
        for i, segment in enumerate(segments):
            if not segment.startswith("{"):
                literals.setdefault(shape(segments[:i]), set()).add(segment)
    reserved: dict[tuple[str, int], frozenset[str]] = {}
    for route in routes:
        segments = route.path.split("/")
        for i, segment in enumerate(segments):
            if segment.startswith("{"):
                words = literals.get(shape(segments[:i]), set())
                if words:
                    reserved[(route.path, i)] = frozenset(words)
    return reserved


def router_path(route: Route, reserved: dict[tuple[str, int], frozenset[str]]) -> str:
    """The route's path for aiohttp's router: a parameter never matches a reserved word."""
    segments = route.path.split("/")
    for i, segment in enumerate(segments):
        words = reserved.get((route.path, i))
        if words:
            refused = "|".join(re.escape(w) for w in sorted(words))
            segments[i] = f"{{{segment[1:-1]}:(?!(?:{refused})(?:/|$))[^{{}}/]+}}"
    return "/".join(segments)


def statuses(route: Route) -> tuple[int, ...]:
    """Every status the route answers besides its success: those it declares and those its
    declaration implies. A JSON body: 400 (malformed), 413, 415, 422 (a field broken); a
    token: 401, 403; a path parameter: 404, 422; query parameters or an Idempotency-Key: 400,
    422; every route calls a service: 503."""
    implied = {503}
    if route.body is not None:
        implied |= {400, 413, 415, 422}
    if route.audience is not None:
        implied |= {401, 403}
    if path_parameters(route.path):
        implied |= {404, 422}
    if route.query or route.idempotency_key:
        implied |= {400, 422}
    return tuple(sorted(implied | set(route.errors) | set(route.pages)))


def read_only(route: Route) -> frozenset[str]:
    """The body's fields a caller may not send: the route's own, the OUTPUT_ONLY ones of its
    message (google.api.field_behavior), and for a PATCH or PUT its IMMUTABLE ones too."""
    if route.body is None:
        return route.read_only
    descriptor = route.body.DESCRIPTOR
    found = route.read_only | fields.output_only(descriptor)
    if route.method in _BODY_REQUIRED:
        found |= fields.immutable(descriptor)
    return found


def body_required(route: Route) -> bool:
    """Whether a request must carry a body: a PATCH or PUT (the change itself), or a body
    message with a REQUIRED field (google.api.field_behavior) that the caller sends."""
    if route.body is None:
        return False
    if route.method in _BODY_REQUIRED:
        return True
    return bool(fields.required(route.body.DESCRIPTOR) - read_only(route))
