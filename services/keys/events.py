"""Events the keys service publishes: key names and versions, never material; and what it
consumes: every service's audit records, which it appends to the audit chain."""

from __future__ import annotations

from runtime.bus import contracts
from services.keys import audit
from smartcity.keys.v1 import events_pb2

# Subjects are declared beside their payloads in proto/smartcity/keys/v1/events.proto.
KEY_CREATED = contracts.event_type(events_pb2.KeyCreated)
KEY_CHANGED = contracts.event_type(events_pb2.KeyChanged)
AUTHORISATION_CODE_REVOKED = contracts.event_type(events_pb2.AuthorisationCodeRevoked)

# An incident reached its users-notified stage (Art. 38): the departments tell their users.
USERS_NOTIFIED = contracts.event_type(events_pb2.IncidentUsersNotified)

PUBLISHED = contracts.published("keys")

# One durable consumer per service's audit records (services/keys/audit.py).
SUBSCRIPTIONS = tuple(audit.subscriptions())
