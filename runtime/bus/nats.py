"""Connecting to NATS as the process's own identity, declaring the JetStream stream the service
publishes to, and waiting for the streams of others that it reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from runtime import logs, metrics
from runtime.bus.events import owner, source_of, stream_name, stream_subjects

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext


log = logs.get(__name__)


async def connect(
    url: str, *, name: str, seed: str | None = None, inbox_prefix: str | None = None
) -> Client:
    """A connection that reconnects forever once established; the first attempt may fail.
    `seed`: the process's own NKEY (runtime/natsauth.py); `inbox_prefix`: the only inbox its
    permissions let it hear replies on."""
    import nats

    async def _disconnected() -> None:
        log.warning("nats_disconnected")

    async def _reconnected() -> None:
        log.info("nats_reconnected")

    async def _error(exc: Exception) -> None:
        log.warning("nats_error", error=type(exc).__name__)

    return await nats.connect(
        # a cluster: several URLs, comma-separated; the client also learns the others from it
        servers=[u.strip() for u in url.split(",") if u.strip()],
        name=name,
        connect_timeout=2,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=_disconnected,
        reconnected_cb=_reconnected,
        error_cb=_error,
        nkeys_seed_str=seed or None,
        **({"inbox_prefix": inbox_prefix} if inbox_prefix else {}),
    )


async def ensure_stream(js: JetStreamContext, service: str, *, replicas: int = 1) -> None:
    """Create the service's stream (file storage, 2-minute duplicate window, `replicas` copies
    across the JetStream cluster), or raise an existing one's replicas up to `replicas`."""
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import APIError, BadRequestError, NotFoundError

    config = StreamConfig(
        name=stream_name(service),
        subjects=stream_subjects(service),
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=120.0,
    )
    try:
        info = await js.stream_info(stream_name(service))
    except NotFoundError:
        info = None
    try:
        if info is None:
            try:
                await js.add_stream(config)
                log.info("stream_created", stream=config.name, replicas=replicas)
            except BadRequestError:
                pass  # created concurrently by another service: same name, same subjects
        # Only up: a process still configured for fewer copies must not shrink the stream.
        elif (info.config.num_replicas or 1) < replicas:
            info.config.num_replicas = replicas
            await js.update_stream(info.config)
            log.info("stream_replicas_raised", stream=config.name, replicas=replicas)
    except APIError as exc:
        # e.g. "replicas > 1 not supported in non-clustered mode": the reason, not just the type
        log.error(
            "stream_not_ensured", stream=config.name, replicas=replicas, error=exc.description
        )
        raise


async def wait_for_stream(js: JetStreamContext, service: str, *, interval: float = 0.5) -> None:
    """Return once the stream of `service` exists: only its owner creates it (a consumer's
    identity may read its info, never create or change it)."""
    from nats.js.errors import NotFoundError

    while True:
        try:
            await js.stream_info(stream_name(service))
            return
        except NotFoundError:
            log.info("stream_awaited", stream=stream_name(service))
        await asyncio.sleep(interval)


Handler = Callable[[bytes], Awaitable[None]]


async def follow(nc: Client, handlers: Mapping[str, Handler]) -> None:
    """Call each subject's handler with the payload of every message on it (core NATS: every
    subscriber hears it, no durable state). For signals such as a key rotation, where what
    matters is hearing it now; a subscriber that misses one catches up another way. A message
    whose `ce-source` is not the subject's owner is refused (logged and counted)."""
    for subject, handler in handlers.items():

        async def on_message(msg: Msg, subject: str = subject, handler: Handler = handler) -> None:
            source = (msg.headers or {}).get("ce-source", "")
            if source != source_of(owner(msg.subject)):
                log.warning(
                    "signal_refused", subject=msg.subject, source=source[:64], reason="source"
                )
                metrics.consumer_refused(f"follow {subject}", reason="source")
                return
            try:
                await handler(msg.data)
            except Exception as exc:
                log.warning("signal_handler_failed", subject=subject, error=type(exc).__name__)

        await nc.subscribe(subject, cb=on_message)


async def follow_forever(
    url: str,
    *,
    name: str,
    handlers: Mapping[str, Handler],
    seed: str | None = None,
    inbox_prefix: str | None = None,
) -> None:
    """Connect (retrying until it works) and `follow` the subjects until cancelled."""
    backoff = 0.2
    while True:
        nc = None
        try:
            nc = await connect(url, name=name, seed=seed, inbox_prefix=inbox_prefix)
            await follow(nc, handlers)
            log.info("following", subjects=sorted(handlers))
            await asyncio.Event().wait()  # the client reconnects and resubscribes by itself
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("bus_unavailable", error=type(exc).__name__, retry_in=backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            if nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), timeout=2.0)
        await asyncio.sleep(backoff)
