"""Errors as values the domain defines, mapped once to a gRPC status (with `google.rpc` details)
and once, in the gateway, from that status to RFC 9457 problem+json."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"
DOMAIN = "smartcity.haikou.gov.cn"


@dataclass(frozen=True)
class FieldViolation:
    """One problem with one field of a request: `field` is a dotted path (`data_items[0].name`);
    `rule`, when set, names the rule broken (`google.rpc.BadRequest.FieldViolation.reason`)."""

    field: str
    description: str
    rule: str = ""


class DomainError(Exception):
    """Base of every error the domain raises on purpose; never carries personal data."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    reason: str = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN)
        packed = any_pb2.Any()
        packed.Pack(info)
        return [packed]


class InvalidArgument(DomainError):
    """The request breaks one or more rules; each violation names the field and the rule."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]) -> None:
        fields = ", ".join(v.field for v in violations)
        super().__init__(f"invalid request: {fields}")
        self.violations = violations

    @classmethod
    def of(cls, field: str, description: str) -> InvalidArgument:
        """The request breaks one rule."""
        return cls([FieldViolation(field, description)])

    def details(self) -> list[any_pb2.Any]:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description, reason=v.rule
                )
                for v in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        return [packed, *super().details()]


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class RoleNotPermitted(PermissionDenied):
    """The caller's roles do not include the operation (the role table, `runtime.roles`)."""

    reason = "ROLE_NOT_PERMITTED"


class FailedPrecondition(DomainError):
    """The request is valid but the state it acts on does not allow it."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Unavailable(DomainError):
    """A service this one depends on does not answer; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


# A 503 names the service that is actually down, however many hops away: the service that
# observes the failure puts its name in the status (`google.rpc.ErrorInfo` metadata under this
# key, and a `google.rpc.ResourceInfo` of type `SERVICE_RESOURCE`); services in between pass the
# status on unchanged (`from_upstream`) and the gateway shows it (`upstream_service`).
SERVICE_KEY = "service"
SERVICE_RESOURCE = "smartcity.service"


class _NamesService(Unavailable):
    def __init__(self, message: str, *, service: str, cause: str) -> None:
        super().__init__(message)
        self.service = service
        self.cause = cause

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=DOMAIN, metadata={SERVICE_KEY: self.service}
        )
        resource = error_details_pb2.ResourceInfo(
            resource_type=SERVICE_RESOURCE, resource_name=self.service, description=self.cause
        )
        return [_pack(info), _pack(resource)]


class UpstreamUnavailable(_NamesService):
    """`service` (another platform service) does not answer, or answers that it cannot serve."""

    reason = "UPSTREAM_UNAVAILABLE"

    def __init__(self, service: str, *, cause: str = "") -> None:
        cause = cause.removesuffix("; retry shortly").removesuffix("; retry")
        said = f"is unavailable: {cause}" if cause else "is not answering"
        super().__init__(
            f"the {service} service {said}; retry shortly",
            service=service,
            cause=cause or "not answering",
        )


class ServiceUnauthenticated(_NamesService):
    """`service` cannot authenticate to the platform: its own client credentials or token were
    refused (a 503 for the caller, whose own credentials are fine; an operator must act)."""

    reason = "SERVICE_UNAUTHENTICATED"

    def __init__(self, service: str, *, cause: str) -> None:
        super().__init__(
            f"the {service} service cannot authenticate: {cause}; check its client secret "
            f"(SMARTCITY_SERVICE_SECRET) and that its service account {service!r} is enabled",
            service=service,
            cause=cause,
        )


_CODES = {code.value[0]: code for code in grpc.StatusCode}


class Relayed(DomainError):
    """A callee's error passed on as it came: it already names the service that failed."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
        self._status = status

    def details(self) -> list[any_pb2.Any]:
        return list(self._status.details)


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class SecondFactorRequired(Unauthenticated):
    """The password was right; the account also needs its TOTP code."""

    reason = "SECOND_FACTOR_REQUIRED"


class ResourceExhausted(DomainError):
    """Too many attempts: retry after `retry_after` seconds (sent as `google.rpc.RetryInfo`)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.seconds = self.retry_after
        packed = any_pb2.Any()
        packed.Pack(info)
        return [packed, *super().details()]


def to_status(error: DomainError) -> status_pb2.Status:
    return status_pb2.Status(
        code=error.code.value[0], message=error.message, details=error.details()
    )


async def abort(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    """End the call with the error's status code, message and `google.rpc` details."""
    status = to_status(error)
    await context.abort(
        error.code, error.message, trailing_metadata=((DETAILS_KEY, status.SerializeToString()),)
    )


def status_from_error(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The rich status a server sent, or a plain one built from the code and message."""
    for key, value in error.trailing_metadata() or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            status.ParseFromString(value)
            return status
    return status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def field_violations(status: status_pb2.Status) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(
                FieldViolation(v.field, v.description, v.reason) for v in bad.field_violations
            )
    return out


def retry_after(status: status_pb2.Status) -> int | None:
    """The seconds a `google.rpc.RetryInfo` detail asks the caller to wait, if any."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return max(1, int(info.retry_delay.seconds) + (1 if info.retry_delay.nanos else 0))
    return None


def upstream_service(status: status_pb2.Status) -> str:
    """The service a status names as the one that failed (`SERVICE_KEY`), or empty."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.domain == DOMAIN and info.metadata.get(SERVICE_KEY):
                return str(info.metadata[SERVICE_KEY])
    return ""


def answered(status: status_pb2.Status) -> bool:
    """Whether a platform service sent this status on purpose (a domain error with its
    `google.rpc.ErrorInfo`), rather than the transport failing on the way to it."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.domain == DOMAIN:
                return True
    return False


# Codes that mean "not now" rather than "no": the callee is down, slow or going away.
TRANSIENT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


def from_upstream(error: grpc.aio.AioRpcError, *, service: str) -> DomainError | None:
    """What a failed call to another platform `service` means for this service's own caller:
    a failure the callee already pinned on a service is passed on unchanged; `service` not
    answering (or answering that it cannot serve) is named; None for any other error, which
    the calling code maps in its own terms (a NOT_FOUND, say)."""
    if error.code() not in TRANSIENT:
        return None
    status = status_from_error(error)
    if upstream_service(status):
        return Relayed(status)
    if answered(status):
        return UpstreamUnavailable(service, cause=status.message)
    return UpstreamUnavailable(service)


def reason(status: status_pb2.Status) -> str:
    """The `google.rpc.ErrorInfo` reason of a status, or empty."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


# HTTP status, problem title and Retry-After for each gRPC code the gateway can meet.
HTTP_FOR_CODE: dict[int, tuple[int, str]] = {
    code_pb2.INVALID_ARGUMENT: (422, "Invalid request"),
    code_pb2.OUT_OF_RANGE: (422, "Invalid request"),
    code_pb2.NOT_FOUND: (404, "Not found"),
    code_pb2.ALREADY_EXISTS: (409, "Already exists"),
    code_pb2.FAILED_PRECONDITION: (409, "Conflict with the current state"),
    code_pb2.ABORTED: (409, "Conflict, retry"),
    code_pb2.UNAUTHENTICATED: (401, "Unauthenticated"),
    code_pb2.PERMISSION_DENIED: (403, "Forbidden"),
    code_pb2.RESOURCE_EXHAUSTED: (429, "Too many requests"),
    code_pb2.UNAVAILABLE: (503, "Service unavailable"),
    code_pb2.DEADLINE_EXCEEDED: (503, "Service unavailable"),
    code_pb2.CANCELLED: (503, "Service unavailable"),
    code_pb2.UNIMPLEMENTED: (501, "Not implemented"),
}


def http_for_code(code: int) -> tuple[int, str]:
    """Anything unexpected from upstream is a bad gateway, never a 500 of our own."""
    return HTTP_FOR_CODE.get(code, (502, "Bad gateway"))
