"""Events the exchange publishes, and the catalog's events it consumes into its read model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.authcodes import AUTHORISATION_CODE_REVOKED_SUBJECT
from runtime.bus.consumer import ReceivedEvent, Subscription
from runtime.bus.events import EventType
from services.catalog.events import RESOURCE_CREATED, RESOURCE_STEPS
from services.exchange import store
from smartcity.exchange.v1 import events_pb2

DATASET_UPDATED = EventType("smartcity.exchange.dataset.updated", events_pb2.DatasetUpdated)
SHARE_REQUEST_SUBMITTED = EventType(
    "smartcity.exchange.share_request.submitted", events_pb2.ShareRequestSubmitted
)
SHARE_REQUEST_DECIDED = EventType(
    "smartcity.exchange.share_request.decided", events_pb2.ShareRequestDecided
)
GRANT_REVOKED = EventType("smartcity.exchange.grant.revoked", events_pb2.GrantRevoked)
PUBLISHED = (DATASET_UPDATED, SHARE_REQUEST_SUBMITTED, SHARE_REQUEST_DECIDED, GRANT_REVOKED)


async def on_resource_created(conn: AsyncConnection, event: ReceivedEvent) -> None:
    await store.learn_resource(conn, event.payload)


async def on_listing_changed(conn: AsyncConnection, event: ReceivedEvent) -> None:
    # the catalog's time of the step orders the steps, not their arrival
    at = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
    at_us = int(at.timestamp()) * 1_000_000 + at.microsecond
    await store.learn_listing(conn, event.payload, at_us=at_us)


SUBSCRIPTIONS = (
    Subscription("exchange-resource-created", RESOURCE_CREATED, on_resource_created),
    Subscription("exchange-resource-published", RESOURCE_STEPS["published"], on_listing_changed),
    Subscription("exchange-resource-withdrawn", RESOURCE_STEPS["withdrawn"], on_listing_changed),
)
# Heard live (core NATS): the keys service's code revocations empty the code checker's cache,
# its own grant revocations the interface services' (services/exchange/interfaces.py).
FOLLOWED = (AUTHORISATION_CODE_REVOKED_SUBJECT, GRANT_REVOKED.subject)
