"""Events the keys service publishes: key names and versions, never material."""

from __future__ import annotations

from runtime.authcodes import AUTHORISATION_CODE_REVOKED_SUBJECT
from runtime.bus.events import EventType
from smartcity.keys.v1 import events_pb2

KEY_CREATED = EventType("smartcity.keys.key.created", events_pb2.KeyCreated)
KEY_CHANGED = EventType("smartcity.keys.key.changed", events_pb2.KeyChanged)
AUTHORISATION_CODE_REVOKED = EventType(
    AUTHORISATION_CODE_REVOKED_SUBJECT, events_pb2.AuthorisationCodeRevoked
)

PUBLISHED = (KEY_CREATED, KEY_CHANGED, AUTHORISATION_CODE_REVOKED)
