"""Events the partners service publishes: an entitlement granted or revoked (client ids and event
types only). The deliveries to partners are copies of other services' events (`fanout`)."""

from __future__ import annotations

from runtime.bus.events import EventType
from smartcity.partners.v1 import events_pb2

ENTITLEMENT_STEPS = {
    step: EventType(f"smartcity.partners.entitlement.{step}", events_pb2.EntitlementChanged)
    for step in ("granted", "revoked")
}
PUBLISHED = tuple(ENTITLEMENT_STEPS.values())
