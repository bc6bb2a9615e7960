"""The gRPC server bootstrap: asyncio server with tracing, auth, error mapping, logging, health
and reflection. Every service gets the same server; a service only supplies its servicers and
the access policy of each method."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

from runtime import auth, errors, logs
from runtime.auth import Policy, TokenVerifier

log = logs.get(__name__)

# Health and reflection answer anyone: probes and grpcurl need no token.
_OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            return str(item.value)
    return None


class CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Authenticates the caller, enforces the method's policy, maps domain errors to rich
    statuses, hides unexpected exceptions behind INTERNAL, and logs one line per call."""

    def __init__(self, *, policies: Mapping[str, Policy], verifier: TokenVerifier) -> None:
        self._policies = policies
        self._verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(_OPEN_PREFIXES):
            return handler
        if handler.unary_unary is None:
            return handler  # no streaming methods yet; they will get the same wrapper
        policy = self._policies.get(method)
        inner = handler.unary_unary
        verifier = self._verifier

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            outcome = "OK"
            reset = None
            try:
                token = auth.bearer_token(_metadata_value(context, "authorization"))
                principal = await verifier.verify(token) if token else None
                if policy is None:
                    raise errors.PermissionDenied(f"{method} has no access policy")
                policy.check(principal)
                reset = auth.set_principal(principal)
                return await inner(request, context)
            except errors.DomainError as exc:
                outcome = exc.code.name
                await errors.abort(context, exc)
            except Exception as exc:
                if context.code() is not None:  # the handler aborted on purpose
                    outcome = str(context.code())
                    raise
                outcome = "INTERNAL"
                log.exception("call_failed", method=method, error=type(exc).__name__)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                if reset is not None:
                    auth.set_principal(None)
                log.info(
                    "call",
                    method=method,
                    code=outcome,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )

        return grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def create_server(
    *, policies: Mapping[str, Policy], verifier: TokenVerifier
) -> grpc.aio.Server:
    """A server with tracing outermost (so every log line has the trace id), then auth."""
    tracing = aio_server_interceptor(
        filter_=filters.negate(filters.service_name("grpc.health.v1.Health"))
    )
    return grpc.aio.server(
        interceptors=[tracing, CallInterceptor(policies=policies, verifier=verifier)],
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 4 * 1024 * 1024)],
    )


async def add_health_and_reflection(
    server: grpc.aio.Server, service_names: Sequence[str]
) -> health.aio.HealthServicer:
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for name in ("", *service_names):
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return servicer
