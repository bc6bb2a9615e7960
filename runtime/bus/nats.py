"""Connecting to NATS and declaring the JetStream streams the service publishes to or reads."""

from __future__ import annotations

from typing import Any

from runtime import logs
from runtime.bus.events import stream_name, stream_subjects

log = logs.get(__name__)


async def connect(url: str, *, name: str) -> Any:
    """A connection that reconnects forever once established; the first attempt may fail."""
    import nats

    async def _disconnected() -> None:
        log.warning("nats_disconnected")

    async def _reconnected() -> None:
        log.info("nats_reconnected")

    async def _error(exc: Exception) -> None:
        log.warning("nats_error", error=type(exc).__name__)

    return await nats.connect(
        servers=[url],
        name=name,
        connect_timeout=2,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=_disconnected,
        reconnected_cb=_reconnected,
        error_cb=_error,
    )


async def ensure_stream(js: Any, service: str, *, replicas: int = 1) -> None:
    """Create or update the service's stream (file storage, 2-minute duplicate window)."""
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import BadRequestError, NotFoundError

    config = StreamConfig(
        name=stream_name(service),
        subjects=stream_subjects(service),
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=120.0,
    )
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("stream_created", stream=config.name)
        except BadRequestError:
            pass  # created concurrently by another service: same name, same subjects
