"""The gRPC server bootstrap: asyncio server with tracing, auth, error mapping, logging, health
and reflection. Every service gets the same server; a service only supplies its servicers and
the access policy of each method."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace

from runtime import auth, constraints, errors, logs, metrics, roles, telemetry
from runtime.auth import Policy, TokenVerifier
from runtime.faults import Faults

log = logs.get(__name__)

# Codes that mean the server failed, as OpenTelemetry's gRPC conventions mark them.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
# Health and reflection answer anyone: probes and grpcurl need no token.
_OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class _Undecodable:
    """A request whose bytes are no message of its type. grpc answers UNKNOWN, with the
    parser's own words, when a deserializer raises, as if the server had failed: the call
    refuses it instead, as INVALID_ARGUMENT, once the caller is authorised."""


_UNDECODABLE = _Undecodable()


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None
    inner = deserialize

    def read(raw: bytes) -> Any:
        try:
            return inner(raw)
        except DecodeError:
            return _UNDECODABLE

    return read


def _decoded(request: Any) -> None:
    if request is _UNDECODABLE:
        raise errors.InvalidArgument.of(
            "request", "is not a message of the method's request type (it does not decode)"
        )


class CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Continues the caller's trace in a server span, authenticates the caller, enforces the
    method's policy, refuses text with control characters in any field (`runtime.text`),
    injects the faults `SMARTCITY_FAULTS` asks for, maps domain errors to rich
    statuses, hides unexpected exceptions behind INTERNAL, logs one line per call and records
    its duration (`rpc.server.duration`)."""

    def __init__(
        self,
        *,
        policies: Mapping[str, Policy],
        verifier: TokenVerifier,
        service: str = "",
        faults: Faults | None = None,
    ) -> None:
        self._policies = policies
        self._verifier = verifier
        self._service = service
        self._faults = faults
        # One wrapped handler per method, built on first use rather than on every call.
        self._wrapped: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(details)
        if handler is None or method.startswith(_OPEN_PREFIXES):
            return handler
        if handler.unary_unary is not None:
            wrapped = self._wrap(method, handler)
        elif handler.unary_stream is not None:
            wrapped = self._wrap_stream(method, handler)
        else:
            return handler  # no client-streaming methods: none is declared in proto/
        self._wrapped[method] = wrapped
        return wrapped

    async def _authorise(self, method: str, metadata: Mapping[str, str]) -> Any:
        """The caller, checked against the method's policy (denied when it has none)."""
        token = auth.bearer_token(metadata.get("authorization"))
        policy = self._policies.get(method)
        if policy is None:
            raise errors.PermissionDenied(f"{method} has no access policy")
        # Only a method that names the userinfo audience accepts its tokens (third parties').
        audiences: tuple[str, ...] = auth.AUDIENCES
        if auth.USERINFO_AUDIENCE in policy.audiences:
            audiences = (*auth.AUDIENCES, auth.USERINFO_AUDIENCE)
        principal = await self._verifier.verify(token, audiences=audiences) if token else None
        policy.check(principal)
        if principal is not None and principal.kind == auth.STAFF and not policy.anonymous:
            roles.check(principal.roles, method)
        return auth.set_principal(principal)

    def _bound(self, method: str) -> tuple[metrics.RpcRecorder, Any]:
        """What a method's calls share: its metric recorder and its injected faults (None, the
        default: one `is None` per call)."""
        faults = self._faults.for_method(self._service, method) if self._faults else None
        return metrics.RpcRecorder(method), faults

    def _wrap(self, method: str, handler: Any) -> Any:
        inner = handler.unary_unary
        recorder, faults = self._bound(method)

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with _Call(method, context, recorder) as current:
                try:
                    current.reset = await self._authorise(method, current.metadata)
                    _decoded(request)
                    constraints.check(request)  # plain text and the rules declared in proto
                    if faults is not None:
                        await faults.apply(current.span)
                    return await inner(request, context)
                except Exception as exc:
                    await current.failed(exc)

        return grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def _wrap_stream(self, method: str, handler: Any) -> Any:
        """The same for a server-streaming method, written as an async generator (context.write
        breaks under tracing: DESIGN.md's pitfalls)."""
        inner = handler.unary_stream
        recorder, faults = self._bound(method)

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            with _Call(method, context, recorder) as current:
                try:
                    current.reset = await self._authorise(method, current.metadata)
                    _decoded(request)
                    constraints.check(request)  # plain text and the rules declared in proto
                    if faults is not None:
                        await faults.apply(current.span)
                    async for item in inner(request, context):
                        yield item
                except Exception as exc:
                    await current.failed(exc)

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )


class _Call:
    """One call's span, outcome, duration and log line, and the mapping of its errors to a
    status."""

    def __init__(
        self, method: str, context: grpc.aio.ServicerContext, recorder: metrics.RpcRecorder
    ) -> None:
        self.method = method
        self.recorder = recorder
        self.context = context
        self.metadata = {item.key: str(item.value) for item in context.invocation_metadata() or ()}
        self.outcome = grpc.StatusCode.OK
        self.reset: Any = None
        self._started = time.perf_counter()
        service, _, rpc = method[1:].rpartition("/")
        self.span, self._span_token = telemetry.start_span(
            method[1:],
            parent=telemetry.extract(self.metadata),
            kind=trace.SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc},
        )

    def __enter__(self) -> _Call:
        return self

    async def failed(self, exc: Exception) -> None:
        if isinstance(exc, errors.DomainError):
            self.outcome = exc.code
            await errors.abort(self.context, exc)
        if self.context.code() is not None:  # the handler aborted on purpose
            self.outcome = self.context.code()
            raise exc
        self.outcome = grpc.StatusCode.INTERNAL
        self.span.record_exception(exc)
        log.exception("call_failed", method=self.method, error=type(exc).__name__)
        await self.context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def __exit__(self, *exc: object) -> None:
        if self.reset is not None:
            auth.set_principal(None)
        self.span.set_attribute("rpc.grpc.status_code", self.outcome.value[0])
        if self.outcome in _SERVER_ERRORS:
            self.span.set_status(trace.StatusCode.ERROR, self.outcome.name)
        # The gateway logs every request; services log calls that failed, and every call only
        # at debug, so a busy service's log does not grow per read.
        elapsed_ms = (time.perf_counter() - self._started) * 1000
        self.recorder.record(self.outcome.value[0], elapsed_ms)
        report = log.debug if self.outcome is grpc.StatusCode.OK else log.info
        report(
            "call",
            method=self.method,
            code=self.outcome.name,
            duration_ms=round(elapsed_ms, 3),
        )
        telemetry.finish(self.span, self._span_token)


def create_server(
    *,
    policies: Mapping[str, Policy],
    verifier: TokenVerifier,
    service: str = "",
    faults: Faults | None = None,
) -> grpc.aio.Server:
    """One interceptor does tracing, auth, faults, error mapping, logging and metrics: each extra
    gRPC aio interceptor layer costs a measurable share of a request (see bench/)."""
    interceptor = CallInterceptor(
        policies=policies, verifier=verifier, service=service, faults=faults
    )
    return grpc.aio.server(
        interceptors=[interceptor],
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 4 * 1024 * 1024)],
    )


async def add_health_and_reflection(
    server: grpc.aio.Server, service_names: Sequence[str]
) -> health.aio.HealthServicer:
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for name in ("", *service_names):
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    names = (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME, REFLECTION_V1)
    reflector = reflection.aio.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflector, server)
    # grpc.reflection.v1 is v1alpha under its final name (the same messages, field for field):
    # newer grpcurl asks for v1 first. grpcio-reflection ships only v1alpha, so the same
    # servicer answers both.
    v1 = grpc.stream_stream_rpc_method_handler(
        reflector.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": v1}),)
    )
    return servicer
