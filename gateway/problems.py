"""RFC 9457 problem+json responses, and the one mapping from gRPC statuses to them.

Problems are made in English; `response` writes the title and details in the language the
client's `Accept-Language` chose (`gateway.languages`, `gateway.problem_texts`)."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
from aiohttp import web
from google.rpc import status_pb2

from gateway import languages, problem_texts
from runtime import errors, telemetry
from runtime.errors import DomainError, FieldViolation

CONTENT_TYPE = "application/problem+json"
RETRY_AFTER_SECONDS = "1"
REALM = "smartcity"
# RFC 6750 section 3: the error codes a resource server gives a bearer token it refuses.
INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
INSUFFICIENT_SCOPE = "insufficient_scope"


def bearer_challenge(error: str = "", description: str = "") -> str:
    """The `WWW-Authenticate` value of a refusal (RFC 6750 section 3): the realm alone when no
    token was presented, with `error` and `error_description` when one was and is refused."""
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
        # the RFC allows printable ASCII but '"' and '\\' in a description
        said = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')
        if said:
            parts.append(f'error_description="{said}"')
    return "Bearer " + ", ".join(parts)


class Problem(web.HTTPException):
    """An HTTP error whose body is problem+json; raise it from any handler or middleware."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        violations: list[FieldViolation] | None = None,
        headers: dict[str, str] | None = None,
        reason: str = "",
        service: str = "",
    ) -> None:
        self.status_code = status
        super().__init__(headers=headers)
        self.title = title
        self.detail = detail
        self.violations = violations or []
        # The service's machine-readable reason (SECOND_FACTOR_REQUIRED): the problem type.
        self.problem_reason = reason
        # A 503's extension member `service`: the platform service that is down or cannot
        # authenticate, which on-call looks at first.
        self.service = service

    def to_json(self, instance: str | None) -> bytes:
        """The problem document in English; `instance` (the request's path) is left out when
        None."""
        return orjson.dumps(self.document(instance))

    def document(self, instance: str | None) -> dict[str, Any]:
        """The problem document in English, as a dict."""
        name = self.problem_reason or self.title
        slug = name.lower().replace(" ", "-").replace("_", "-").replace(",", "")
        doc: dict[str, Any] = {
            "type": f"urn:smartcity:problem:{slug}",
            "title": self.title,
            "status": self.status_code,
            "detail": self.detail,
        }
        if instance is not None:
            doc["instance"] = instance
        if self.service:
            doc["service"] = self.service
        if self.violations:
            doc["errors"] = [
                {"field": v.field, "detail": v.description, **({"rule": v.rule} if v.rule else {})}
                for v in self.violations
            ]
        trace_id = telemetry.current_trace_id()
        if trace_id:
            doc["trace_id"] = trace_id
        return doc


def response(
    problem: Problem, instance: str | None, *, language: str = languages.DEFAULT
) -> web.Response:
    """The problem+json response, its words in `language` (`languages.negotiate`): the
    `Content-Language` names it, and `en` too when some text has no translation yet."""
    headers = {k: v for k, v in problem.headers.items() if k.lower() != "content-type"}
    doc, content_language = problem_texts.written_in(problem.document(instance), language)
    said = [headers.pop(k) for k in [k for k in headers if k.lower() == "vary"]]
    vary = [v.strip() for v in ",".join(said).split(",") if v.strip()]
    if not any(v.lower() in ("accept-language", "*") for v in vary):
        vary.append("Accept-Language")
    headers["Vary"] = ", ".join(vary)
    headers["Content-Language"] = content_language
    return web.Response(
        status=problem.status_code,
        body=orjson.dumps(doc),
        content_type=CONTENT_TYPE,
        headers=headers,
    )


def from_domain(error: DomainError) -> Problem:
    status = errors.to_status(error)
    problem = from_status(status)
    # the gateway's own refusal that names a service (it cannot reach identity's keys)
    problem.service = errors.upstream_service(status)
    return problem


def from_rpc_error(error: grpc.aio.AioRpcError, *, service: str, body_field: str = "") -> Problem:
    """The problem for a failed call to `service`; `body_field` is the field of the request
    message that carried the JSON body, so that violations name the body's own paths."""
    status = errors.status_from_error(error)
    if status.code in (
        grpc.StatusCode.UNAVAILABLE.value[0],
        grpc.StatusCode.DEADLINE_EXCEEDED.value[0],
    ):
        return _unavailable(status, service=service)
    problem = from_status(status)
    if body_field and problem.violations:
        said = errors.InvalidArgument(problem.violations).message
        problem.violations = [
            FieldViolation(_within(v.field, body_field), v.description, v.rule)
            for v in problem.violations
        ]
        if problem.detail == said:  # "invalid request: <the fields>": name them as sent
            problem.detail = errors.InvalidArgument(problem.violations).message
    return problem


def _unavailable(status: status_pb2.Status, *, service: str) -> Problem:
    """A 503 that names the service at fault: the one the status names (a service further on
    that is down, or one that cannot authenticate), else the one called."""
    if named := errors.upstream_service(status):
        problem = from_status(status)
        problem.service = named
        return problem
    if errors.answered(status):  # the service itself says why it cannot serve
        message = f"the {service} service is unavailable: {status.message}"
        problem = from_status(status_pb2.Status(code=status.code, message=message))
    else:
        # The transport's own words may name hosts and ports: say which service, not where.
        message = f"the {service} service is not answering; retry shortly"
        problem = from_status(status_pb2.Status(code=status.code, message=message))
    problem.service = service
    return problem


def _within(path: str, body_field: str) -> str:
    """`code.expire_time` -> `expire_time` when the body was the request's `code`."""
    if path == body_field:
        return "body"
    return path.removeprefix(f"{body_field}.")


# Reasons that are the status code's own name add nothing to the problem type.
_GENERIC_REASONS = frozenset(
    {"ERROR", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "UNAUTHENTICATED"}
    | {"PERMISSION_DENIED", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED"}
)


def from_status(status: status_pb2.Status) -> Problem:
    http, title = errors.http_for_code(status.code)
    message = status.message
    headers: dict[str, str] = {}
    if http == 503:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    if (wait := errors.retry_after(status)) is not None:
        headers["Retry-After"] = str(wait)
    if http == 401:
        headers["WWW-Authenticate"] = bearer_challenge()
    if http == 502:
        message = "an upstream service failed; the trace id identifies the request"
    reason = errors.reason(status)
    return Problem(
        http,
        title,
        message,
        violations=errors.field_violations(status),
        headers=headers or None,
        reason="" if reason in _GENERIC_REASONS else reason,
    )
