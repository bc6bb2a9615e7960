"""Events the keys service publishes: key names and versions, never material."""

from __future__ import annotations

from runtime.bus.events import EventType
from smartcity.keys.v1 import events_pb2

KEY_CREATED = EventType("smartcity.keys.key.created", events_pb2.KeyCreated)
KEY_CHANGED = EventType("smartcity.keys.key.changed", events_pb2.KeyChanged)

PUBLISHED = (KEY_CREATED, KEY_CHANGED)
