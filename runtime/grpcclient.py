"""Client channels to other services: traced, and quick to find a restarted server again."""

from __future__ import annotations

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

# gRPC's default reconnect backoff grows to 120 s; a restarted service should be found again
# within a second, which is what the gateway's 503 `Retry-After: 1` promises.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def channel(target: str) -> grpc.aio.Channel:
    """One long-lived channel to `target`; share it, never open one per call."""
    return grpc.aio.insecure_channel(
        target, options=CHANNEL_OPTIONS, interceptors=aio_client_interceptors()
    )
