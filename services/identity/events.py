"""Events the identity service publishes: identifiers only, never names or identity numbers."""

from __future__ import annotations

from runtime.auth import KEY_ROTATED_SUBJECT, SESSIONS_ENDED_SUBJECT
from runtime.bus.events import EventType
from smartcity.identity.v1 import events_pb2

ACCOUNT_CREATED = EventType("smartcity.identity.account.created", events_pb2.AccountCreated)
ACCOUNT_LOCKED = EventType("smartcity.identity.account.locked", events_pb2.AccountLocked)
ACCOUNT_DISABLED = EventType("smartcity.identity.account.disabled", events_pb2.AccountDisabled)
SIGNING_KEY_ROTATED = EventType(KEY_ROTATED_SUBJECT, events_pb2.SigningKeyRotated)
SESSIONS_ENDED = EventType(SESSIONS_ENDED_SUBJECT, events_pb2.SessionsEnded)

PUBLISHED = (
    ACCOUNT_CREATED,
    ACCOUNT_LOCKED,
    ACCOUNT_DISABLED,
    SIGNING_KEY_ROTATED,
    SESSIONS_ENDED,
)
