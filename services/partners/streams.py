"""Server-sent events: a partner's deliveries streamed from its own subject, after the sequence
it last saw (`Last-Event-ID`) or from a time, then live, with a heartbeat while nothing comes.

Each stream reads through a consumer of its own (ephemeral: JetStream removes it a while after
the stream ends), so streams never share or steal each other's events. A stream ends when the
caller's access token expires, and as soon as its session ends (logout, the client disabled, the
Bureau ending its sessions): before each batch and each heartbeat the token is checked again, so
no event goes out on a token its verifier refuses. The client reconnects with a fresh token and
its last event id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from runtime.auth import Principal
from runtime.errors import Unavailable
from services.partners import cloudevents, domain
from smartcity.partners.v1 import partners_pb2 as pb

if TYPE_CHECKING:
    from nats.js import JetStreamContext


HEARTBEAT_SECONDS = 15.0
BATCH = 64


async def stream(
    js: JetStreamContext | None,
    principal: Principal,
    request: pb.StreamEventsRequest,
    still_valid: Callable[[], Awaitable[object]],
) -> AsyncIterator[pb.StreamEventsResponse]:
    """`still_valid` raises (Unauthenticated) once the caller's token is refused: the stream
    ends with that error."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    if js is None:
        raise Unavailable("the event bus is not connected yet; retry")
    start: dict[str, Any] = {"deliver_policy": DeliverPolicy.NEW}
    if request.after_sequence > 0:
        start = {
            "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
            "opt_start_seq": request.after_sequence + 1,
        }
    elif request.HasField("from_time"):
        start = {
            "deliver_policy": DeliverPolicy.BY_START_TIME,
            "opt_start_time": request.from_time.ToJsonString(),
        }
    client = principal.client
    psub = await js.pull_subscribe(
        domain.delivery_filter(client),
        stream=domain.STREAM,
        config=ConsumerConfig(
            name=f"sse-{domain.token(client)}-{uuid.uuid4().hex[:12]}",
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
            **start,
        ),
    )
    try:
        yield pb.StreamEventsResponse()  # at once: the caller knows the stream is open
        while time.time() < principal.expires_at:
            wait = min(HEARTBEAT_SECONDS, max(principal.expires_at - time.time(), 0.1))
            try:
                msgs = await psub.fetch(BATCH, timeout=wait)
            except (NatsTimeout, TimeoutError):
                await still_valid()
                yield pb.StreamEventsResponse()  # a heartbeat: the connection is alive
                continue
            await still_valid()  # the session may have ended since the last batch
            for msg in msgs:
                headers: dict[str, str] = dict(msg.headers or {})
                sequence = int(msg.metadata.sequence.stream)
                yield pb.StreamEventsResponse(
                    sequence=sequence,
                    cloudevent_json=cloudevents.encode(
                        headers, msg.data, sequence=sequence
                    ).decode(),
                    traceparent=headers.get("traceparent", ""),
                    event_type=headers.get("ce-type", ""),
                )
    finally:
        await psub.unsubscribe()
