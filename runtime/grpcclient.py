"""Calling other services: long-lived channels, and calls traced as CLIENT spans.

Tracing is done here rather than by a gRPC aio client interceptor: the interceptor machinery
wraps every call in extra objects and a task, which costs a measurable share of a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from opentelemetry import trace

from runtime import telemetry

# gRPC's default reconnect backoff grows to 120 s; a restarted service should be found again
# within a second, which is what the gateway's 503 `Retry-After: 1` promises.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def channel(target: str) -> grpc.aio.Channel:
    """One long-lived channel to `target`; share it, never open one per call."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


async def call(
    method: Any,
    request: Any,
    *,
    timeout: float,
    metadata: Sequence[tuple[str, str]] = (),
) -> Any:
    """Call a unary method in a CLIENT span whose context travels as `traceparent`."""
    path = getattr(method, "_method", b"/unknown/unknown").decode()
    service, _, rpc = path[1:].rpartition("/")
    with telemetry.tracer().start_as_current_span(
        path[1:],
        kind=trace.SpanKind.CLIENT,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        carrier: dict[str, str] = {}
        telemetry.inject(carrier)
        try:
            reply = await method(request, timeout=timeout, metadata=(*metadata, *carrier.items()))
        except grpc.aio.AioRpcError as exc:
            span.set_attribute("rpc.grpc.status_code", exc.code().value[0])
            span.set_status(trace.StatusCode.ERROR, exc.code().name)
            raise
        span.set_attribute("rpc.grpc.status_code", 0)
        return reply
