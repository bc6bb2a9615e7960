"""Events the keys service publishes: key names and versions, never material; and what it
consumes: every service's audit records, which it appends to the audit chain."""

from __future__ import annotations

from runtime.authcodes import AUTHORISATION_CODE_REVOKED_SUBJECT
from runtime.bus.events import EventType
from services.keys import audit
from smartcity.keys.v1 import events_pb2

KEY_CREATED = EventType("smartcity.keys.key.created", events_pb2.KeyCreated)
KEY_CHANGED = EventType("smartcity.keys.key.changed", events_pb2.KeyChanged)
AUTHORISATION_CODE_REVOKED = EventType(
    AUTHORISATION_CODE_REVOKED_SUBJECT, events_pb2.AuthorisationCodeRevoked
)

# An incident reached its users-notified stage (Art. 38): the departments tell their users.
USERS_NOTIFIED = EventType(
    "smartcity.keys.incident.users_notified", events_pb2.IncidentUsersNotified
)

PUBLISHED = (KEY_CREATED, KEY_CHANGED, AUTHORISATION_CODE_REVOKED, USERS_NOTIFIED)

# One durable consumer per service's audit records (services/keys/audit.py).
SUBSCRIPTIONS = tuple(audit.subscriptions())
