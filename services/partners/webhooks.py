"""Webhook deliveries: each endpoint has its own durable consumer on its partner's subject and its
own worker, so a slow or unreachable endpoint delays nobody else.

A delivery is a POST of the event's CloudEvents JSON form, signed as the Standard Webhooks
specification says (`signatures`), with the event's `traceparent`. A 2xx answer within the
timeout delivers it; anything else is retried with exponential backoff (JetStream redelivers it
after the delay), and after the configured number of attempts it is parked: no more attempts,
the failure stays in the partner's delivery log, and a replay delivers it again. Deliveries are
at least once; an endpoint deduplicates by `webhook-id`. Order holds while deliveries succeed.
Every replica runs the workers of every endpoint: JetStream shares each consumer's messages.
Every connection goes to a public address only (`destinations`: no SSRF, no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from runtime import crypto, logs
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from services.partners import cloudevents, domain, signatures, store
from services.partners.destinations import TIMEOUT_SECONDS, Destinations

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext


log = logs.get(__name__)

BATCH = 16
RECONCILE_SECONDS = 2.0
DELIVERED, RETRYING, PARKED = "delivered", "retrying", "parked"


@dataclass(frozen=True, slots=True)
class Attempt:
    state: str
    number: int  # the how-manieth delivery of the message
    log: dict[str, Any]


def consumer_name(webhook_id: str) -> str:
    return f"webhook-{webhook_id}"


class Webhooks:
    def __init__(self, rt: ServiceRuntime, master_key: bytes) -> None:
        self._rt = rt
        self._key = master_key
        self.destinations = Destinations(allow_private=rt.settings.webhook_allow_private)
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self.js: JetStreamContext | None = None

    def seal(self, webhook_id: str, secret: str) -> bytes:
        return crypto.seal(self._key, secret.encode(), context=f"webhook:{webhook_id}".encode())

    def _secret(self, row: store.Row) -> str:
        return crypto.unseal(self._key, row.secret, context=f"webhook:{row.id}".encode()).decode()

    def changed(self) -> None:
        """An endpoint was added or deleted here: reconcile the workers now."""
        self._changed.set()

    def restart(self, webhook_id: str) -> None:
        """The endpoint's consumer was replaced (a replay): its worker binds to the new one."""
        task = self._workers.pop(webhook_id, None)
        if task is not None:
            task.cancel()
        self._changed.set()

    async def run(self, js: JetStreamContext) -> None:
        """Keep one worker per live endpoint, until the bus disconnects."""
        self.js = js
        async with self.destinations.client() as http:
            try:
                while True:
                    await self._reconcile(js, http)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), timeout=RECONCILE_SECONDS)
                    self._changed.clear()
            finally:
                for task in self._workers.values():
                    task.cancel()
                self._workers.clear()

    async def _reconcile(self, js: JetStreamContext, http: aiohttp.ClientSession) -> None:
        async with self._rt.db.read() as conn:
            live = {row.id: row for row in await store.live_webhooks(conn)}
        for gone in set(self._workers) - set(live):
            self._workers.pop(gone).cancel()
        for webhook_id, row in live.items():
            task = self._workers.get(webhook_id)
            if task is None or task.done():
                self._workers[webhook_id] = asyncio.create_task(
                    self._work(js, http, row), name=f"webhook-{webhook_id}"
                )

    async def drop_consumer(self, webhook_id: str) -> None:
        from nats.js.errors import NotFoundError

        if self.js is not None:
            with contextlib.suppress(NotFoundError):
                await self.js.delete_consumer(domain.STREAM, consumer_name(webhook_id))

    async def ensure_consumer(self, js: JetStreamContext, row: store.Row, **start: Any) -> None:
        """The endpoint's durable consumer: from its creation on, or from `start` (a replay)."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        policy = DeliverPolicy.NEW
        if "opt_start_seq" in start:
            policy = DeliverPolicy.BY_START_SEQUENCE
        elif "opt_start_time" in start:
            policy = DeliverPolicy.BY_START_TIME
        await js.add_consumer(
            domain.STREAM,
            ConsumerConfig(
                durable_name=consumer_name(row.id),
                filter_subject=domain.delivery_filter(row.client_id),
                deliver_policy=policy,
                ack_policy=AckPolicy.EXPLICIT,
                # a whole batch may wait on a slow endpoint before it is acknowledged
                ack_wait=TIMEOUT_SECONDS * BATCH + 10,
                max_deliver=self._rt.settings.webhook_attempts,
                **start,
            ),
        )

    async def _work(
        self, js: JetStreamContext, http: aiohttp.ClientSession, row: store.Row
    ) -> None:
        try:
            await self._deliver_all(js, http, row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # its consumer replaced or gone: the next reconciliation starts a worker again
            log.warning("webhook_worker_stopped", webhook_id=row.id, error=type(exc).__name__)

    async def _deliver_all(
        self, js: JetStreamContext, http: aiohttp.ClientSession, row: store.Row
    ) -> None:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import NotFoundError

        try:
            psub = await js.pull_subscribe_bind(consumer_name(row.id), stream=domain.STREAM)
            await js.consumer_info(domain.STREAM, consumer_name(row.id))
        except NotFoundError:
            await self.ensure_consumer(js, row)
            psub = await js.pull_subscribe_bind(consumer_name(row.id), stream=domain.STREAM)
        secret = self._secret(row)
        while True:
            try:
                msgs = await psub.fetch(BATCH, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
            # posted one by one, in order; then one transaction logs the batch's attempts, and
            # only then is each acknowledged, retried later, or parked
            attempts = [await self._post(http, row, secret, msg) for msg in msgs]
            async with self._rt.db.begin() as conn:
                for attempt in attempts:
                    await store.record_attempt(conn, **attempt.log)
            for msg, attempt in zip(msgs, attempts, strict=True):
                await self._settle(row, msg, attempt)

    async def _post(
        self, http: aiohttp.ClientSession, row: store.Row, secret: str, msg: Msg
    ) -> Attempt:
        headers: dict[str, str] = dict(msg.headers or {})
        sequence = int(msg.metadata.sequence.stream)
        number = int(msg.metadata.num_delivered)
        body = cloudevents.encode(headers, msg.data, sequence=sequence)
        event_id = headers.get("ce-id", "")
        stamp = int(time.time())
        request_headers = {
            "content-type": "application/cloudevents+json",
            "webhook-id": event_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signatures.sign(
                secret, msg_id=event_id, timestamp=stamp, body=body
            ),
        }
        if headers.get("traceparent"):
            request_headers["traceparent"] = headers["traceparent"]
        status, error = await self.destinations.post(
            http, row.url, body=body, headers=request_headers
        )
        if not error:
            state = DELIVERED
        elif number >= self._rt.settings.webhook_attempts:
            state = PARKED
        else:
            state = RETRYING
        return Attempt(
            state=state,
            number=number,
            log={
                "delivery_id": f"{row.id}:{sequence}",
                "state": state,
                "status": status,
                "error": error,
                "at_us": now_us(),
                "client_id": row.client_id,
                "webhook_id": row.id,
                "event_id": event_id,
                "event_type": headers.get("ce-type", ""),
                "sequence": sequence,
            },
        )

    async def _settle(self, row: store.Row, msg: Msg, attempt: Attempt) -> None:
        if attempt.state == DELIVERED:
            await msg.ack()
        elif attempt.state == PARKED:
            log.warning("webhook_delivery_parked", webhook_id=row.id, event=attempt.log["event_id"])
            await msg.term()
        else:
            base = self._rt.settings.webhook_retry_ms / 1e3
            await msg.nak(delay=domain.retry_delay(attempt.number, base_seconds=base))
