"""Events the catalog publishes."""

from __future__ import annotations

from runtime.bus.events import EventType
from smartcity.catalog.v1 import events_pb2

RESOURCE_CREATED = EventType("smartcity.catalog.resource.created", events_pb2.ResourceCreated)

PUBLISHED = (RESOURCE_CREATED,)
