"""The events a partner may be entitled to, and how each is scoped to one partner (Art. 38).

- `ALL`: every event of the type (a resource entering or leaving the catalogs, a licence's
  status: identifiers and statuses, no personal data).
- `OWN`: only those about the partner itself (`consumer` or `grantee` is `partner:<client id>`).
- `GRANTED`: data changes of the resources the partner's live exchange grants cover.

Everything else the platform publishes (accounts, keys, audit records, departments' deliveries)
is for the platform alone and is never offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.bus import contracts
from runtime.bus.events import EventType
from smartcity.catalog.v1 import events_pb2 as catalog
from smartcity.exchange.v1 import events_pb2 as exchange
from smartcity.licences.v1 import events_pb2 as licences

ALL, OWN, GRANTED = "all", "own", "granted"


@dataclass(frozen=True)
class PartnerEvent:
    event_type: EventType[Any]
    scope: str
    summary: str
    # OWN: the payload field naming the party ("partner:<client id>"); GRANTED: the resource.
    key: str = ""


PARTNER_EVENTS: dict[str, PartnerEvent] = {
    e.event_type.subject: e
    for e in (
        PartnerEvent(
            contracts.steps(catalog.ResourceChanged)["published"],
            ALL,
            "A resource was listed in the share or open catalog.",
        ),
        PartnerEvent(
            contracts.steps(catalog.ResourceChanged)["withdrawn"],
            ALL,
            "A resource was withdrawn from the catalogs.",
        ),
        PartnerEvent(
            contracts.event_type(exchange.DatasetUpdated),
            GRANTED,
            "New records of a resource the partner holds a grant of: read them through its "
            "interface service.",
            key="resource_id",
        ),
        PartnerEvent(
            contracts.event_type(exchange.ShareRequestDecided),
            OWN,
            "The partner's share request was granted or refused.",
            key="consumer",
        ),
        PartnerEvent(
            contracts.event_type(exchange.GrantRevoked),
            OWN,
            "A grant the partner held was revoked.",
            key="consumer",
        ),
        *(
            PartnerEvent(
                contracts.steps(licences.LicenceChanged)[step], ALL, f"A licence was {step}."
            )
            for step in ("issued", "suspended", "resumed", "revoked", "renewed")
        ),
        *(
            PartnerEvent(
                contracts.steps(licences.UseGrantChanged)[step],
                OWN,
                f"A holder {step} the partner's use of a licence.",
                key="grantee",
            )
            for step in ("granted", "withdrawn")
        ),
    )
}
