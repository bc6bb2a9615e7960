"""Calling other services: long-lived channels, and calls that carry the trace context.

Propagation is done here rather than by a gRPC aio client interceptor: the interceptor machinery
wraps every call in extra objects and a task, which costs a measurable share of a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import grpc
from google.protobuf.message import Message
from opentelemetry import trace

from runtime import telemetry
from runtime.rpc_types import UnaryMethod

Request = TypeVar("Request", bound=Message)
Reply = TypeVar("Reply", bound=Message)

# gRPC's default reconnect backoff grows to 120 s; a restarted service should be found again
# within a second, which is what the gateway's 503 `Retry-After: 1` promises.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def service_of(method: object) -> str:
    """The platform service a stub's method belongs to: "keys" for
    `/smartcity.keys.v1.KeysService/Sign`; empty for any other method."""
    name = getattr(method, "_method", b"").decode().lstrip("/")
    package, _, service = name.partition(".")
    return service.partition(".")[0] if package == "smartcity" else ""


def channel(target: str) -> grpc.aio.Channel:
    """One long-lived channel to `target`; share it, never open one per call."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


async def call(
    method: UnaryMethod[Request, Reply],
    request: Request,
    *,
    timeout: float,
    metadata: Sequence[tuple[str, str]] = (),
) -> Reply:
    """Call a unary method with the current trace context as `traceparent`.

    The callee's server span is the child of the caller's current span, and the call is
    recorded as attributes of that span rather than as a span of its own: a client span per
    call cost about a sixth of the gateway's throughput (bench/), and with one upstream call per
    request the caller's span already times it.
    """
    carrier: dict[str, str] = {}
    telemetry.inject(carrier)
    span = trace.get_current_span()
    span.set_attribute("rpc.upstream", getattr(method, "_method", b"").decode())
    try:
        reply = await method(request, timeout=timeout, metadata=(*metadata, *carrier.items()))
    except grpc.aio.AioRpcError as exc:
        span.set_attribute("rpc.upstream.grpc_status_code", exc.code().value[0])
        raise
    return reply
