"""Events the catalog publishes, and the exchange's events it consumes for the scorecards."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.bus import contracts
from runtime.bus.consumer import ReceivedEvent, Subscription
from services.catalog import store
from smartcity.catalog.v1 import events_pb2
from smartcity.exchange.v1 import events_pb2 as exchange_events

# Subjects are declared beside their payloads in proto/smartcity/catalog/v1/events.proto.
RESOURCE_CREATED = contracts.event_type(events_pb2.ResourceCreated)
# One subject per lifecycle step, all with the same thin payload.
RESOURCE_STEPS = contracts.steps(events_pb2.ResourceChanged)
DEMAND_STEPS = contracts.steps(events_pb2.DemandChanged)

PUBLISHED = contracts.published("catalog")

# What the exchange announces (see proto/smartcity/exchange/v1/events.proto).
DATASET_UPDATED = contracts.event_type(exchange_events.DatasetUpdated)
SHARE_REQUEST_SUBMITTED = contracts.event_type(exchange_events.ShareRequestSubmitted)
SHARE_REQUEST_DECIDED = contracts.event_type(exchange_events.ShareRequestDecided)


def _us(ts: object) -> int:
    return int(ts.ToMicroseconds())  # type: ignore[attr-defined]


async def on_dataset_updated(
    conn: AsyncConnection, event: ReceivedEvent[exchange_events.DatasetUpdated]
) -> None:
    p = event.payload
    await store.record_refresh(
        conn,
        resource_id=p.resource_id,
        department=p.provider_department,
        version=p.version,
        updated_us=_us(p.update_time),
    )


async def on_share_request_submitted(
    conn: AsyncConnection, event: ReceivedEvent[exchange_events.ShareRequestSubmitted]
) -> None:
    p = event.payload
    await store.record_share_request(
        conn,
        request_id=p.share_request_id,
        department=p.provider_department,
        submitted_us=_us(p.submit_time),
    )


async def on_share_request_decided(
    conn: AsyncConnection, event: ReceivedEvent[exchange_events.ShareRequestDecided]
) -> None:
    p = event.payload
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
