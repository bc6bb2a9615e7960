"""Events the licences service publishes: a licence issued or changed, a use grant given or
withdrawn. Identifiers, types and statuses only: never a holder or a licence's contents."""

from __future__ import annotations

from runtime.bus import contracts
from smartcity.licences.v1 import events_pb2

# Subjects are declared beside their payloads in proto/smartcity/licences/v1/events.proto.
LICENCE_STEPS = contracts.steps(events_pb2.LicenceChanged)
USE_GRANT_STEPS = contracts.steps(events_pb2.UseGrantChanged)
PUBLISHED = contracts.published("licences")
