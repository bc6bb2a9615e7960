"""Events the exchange consumes: the catalog's, into its own read model."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.bus.consumer import ReceivedEvent, Subscription
from services.catalog.events import RESOURCE_CREATED
from services.exchange import store


async def on_resource_created(conn: AsyncConnection, event: ReceivedEvent) -> None:
    await store.learn_resource(conn, event.payload)


SUBSCRIPTIONS = (Subscription("exchange-resource-created", RESOURCE_CREATED, on_resource_created),)
