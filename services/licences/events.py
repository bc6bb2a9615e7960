"""Events the licences service publishes: a licence issued or changed, a use grant given or
withdrawn. Identifiers, types and statuses only: never a holder or a licence's contents."""

from __future__ import annotations

from runtime.bus.events import EventType
from smartcity.licences.v1 import events_pb2

LICENCE_STEPS = {
    step: EventType(f"smartcity.licences.licence.{step}", events_pb2.LicenceChanged)
    for step in ("issued", "suspended", "resumed", "revoked", "renewed")
}
USE_GRANT_STEPS = {
    step: EventType(f"smartcity.licences.use_grant.{step}", events_pb2.UseGrantChanged)
    for step in ("granted", "withdrawn")
}
PUBLISHED = (*LICENCE_STEPS.values(), *USE_GRANT_STEPS.values())
