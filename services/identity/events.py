"""Events the identity service publishes: identifiers only, never names or identity numbers."""

from __future__ import annotations

from runtime.bus import contracts
from smartcity.identity.v1 import events_pb2

# Subjects are declared beside their payloads in proto/smartcity/identity/v1/events.proto.
ACCOUNT_CREATED = contracts.event_type(events_pb2.AccountCreated)
ACCOUNT_LOCKED = contracts.event_type(events_pb2.AccountLocked)
ACCOUNT_DISABLED = contracts.event_type(events_pb2.AccountDisabled)
SIGNING_KEY_ROTATED = contracts.event_type(events_pb2.SigningKeyRotated)
SESSIONS_ENDED = contracts.event_type(events_pb2.SessionsEnded)

PUBLISHED = contracts.published("identity")
