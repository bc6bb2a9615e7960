"""Events the exchange publishes, and the catalog's events it consumes into its read model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.authcodes import AUTHORISATION_CODE_REVOKED_SUBJECT
from runtime.bus import contracts
from runtime.bus.consumer import ReceivedEvent, Subscription
from services.exchange import store
from smartcity.catalog.v1 import events_pb2 as catalog_events
from smartcity.exchange.v1 import events_pb2

# Subjects are declared beside their payloads in proto/smartcity/exchange/v1/events.proto.
DATASET_UPDATED = contracts.event_type(events_pb2.DatasetUpdated)
SHARE_REQUEST_SUBMITTED = contracts.event_type(events_pb2.ShareRequestSubmitted)
SHARE_REQUEST_DECIDED = contracts.event_type(events_pb2.ShareRequestDecided)
GRANT_REVOKED = contracts.event_type(events_pb2.GrantRevoked)
PUBLISHED = contracts.published("exchange")
# Each subscribing department's deliveries, on its own subject.
TENANT_SUBJECTS = (contracts.templated(events_pb2.DeliveryAvailable, department="*").subject,)

# What the catalog announces (see proto/smartcity/catalog/v1/events.proto).
RESOURCE_CREATED = contracts.event_type(catalog_events.ResourceCreated)
RESOURCE_STEPS = contracts.steps(catalog_events.ResourceChanged)


async def on_resource_created(
    conn: AsyncConnection, event: ReceivedEvent[catalog_events.ResourceCreated]
) -> None:
    await store.learn_resource(conn, event.payload)


async def on_listing_changed(
    conn: AsyncConnection, event: ReceivedEvent[catalog_events.ResourceChanged]
) -> None:
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
