"""Events the catalog publishes, and the exchange's events it consumes for the scorecards."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.bus.consumer import ReceivedEvent, Subscription
from runtime.bus.events import EventType
from services.catalog import store
from smartcity.catalog.v1 import events_pb2
from smartcity.exchange.v1 import events_pb2 as exchange_events

RESOURCE_CREATED = EventType("smartcity.catalog.resource.created", events_pb2.ResourceCreated)
# One subject per lifecycle step, all with the same thin payload.
RESOURCE_STEPS = {
    step: EventType(f"smartcity.catalog.resource.{step}", events_pb2.ResourceChanged)
    for step in ("updated", "submitted", "returned", "confirmed", "published", "withdrawn")
}
DEMAND_STEPS = {
    step: EventType(f"smartcity.catalog.demand.{step}", events_pb2.DemandChanged)
    for step in ("submitted", "routed", "answered")
}

PUBLISHED = (RESOURCE_CREATED, *RESOURCE_STEPS.values(), *DEMAND_STEPS.values())

# What the exchange announces (see proto/smartcity/exchange/v1/events.proto).
DATASET_UPDATED = EventType("smartcity.exchange.dataset.updated", exchange_events.DatasetUpdated)
SHARE_REQUEST_SUBMITTED = EventType(
    "smartcity.exchange.share_request.submitted", exchange_events.ShareRequestSubmitted
)
SHARE_REQUEST_DECIDED = EventType(
    "smartcity.exchange.share_request.decided", exchange_events.ShareRequestDecided
)


def _us(ts: object) -> int:
    return int(ts.ToMicroseconds())  # type: ignore[attr-defined]


async def on_dataset_updated(conn: AsyncConnection, event: ReceivedEvent) -> None:
    p: exchange_events.DatasetUpdated = event.payload
    await store.record_refresh(
        conn,
        resource_id=p.resource_id,
        department=p.provider_department,
        version=p.version,
        updated_us=_us(p.update_time),
    )


async def on_share_request_submitted(conn: AsyncConnection, event: ReceivedEvent) -> None:
    p: exchange_events.ShareRequestSubmitted = event.payload
    await store.record_share_request(
        conn,
        request_id=p.share_request_id,
        department=p.provider_department,
        submitted_us=_us(p.submit_time),
    )


async def on_share_request_decided(conn: AsyncConnection, event: ReceivedEvent) -> None:
    p: exchange_events.ShareRequestDecided = event.payload
    await store.record_share_request(
        conn,
        request_id=p.share_request_id,
        department=p.provider_department,
        submitted_us=_us(p.submit_time),
        decided_us=_us(p.decide_time),
        outcome=p.outcome,
        late=p.late,
    )


SUBSCRIPTIONS = (
    Subscription("catalog-dataset-updated", DATASET_UPDATED, on_dataset_updated),
    Subscription(
        "catalog-share-request-submitted", SHARE_REQUEST_SUBMITTED, on_share_request_submitted
    ),
    Subscription("catalog-share-request-decided", SHARE_REQUEST_DECIDED, on_share_request_decided),
)
