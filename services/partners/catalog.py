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

from runtime.bus.events import EventType
from services.catalog import events as catalog
from services.exchange import events as exchange
from services.licences import events as licences

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
            catalog.RESOURCE_STEPS["published"],
            ALL,
            "A resource was listed in the share or open catalog.",
        ),
        PartnerEvent(
            catalog.RESOURCE_STEPS["withdrawn"],
            ALL,
            "A resource was withdrawn from the catalogs.",
        ),
        PartnerEvent(
            exchange.DATASET_UPDATED,
            GRANTED,
            "New records of a resource the partner holds a grant of: read them through its "
            "interface service.",
            key="resource_id",
        ),
        PartnerEvent(
            exchange.SHARE_REQUEST_DECIDED,
            OWN,
            "The partner's share request was granted or refused.",
            key="consumer",
        ),
        PartnerEvent(
            exchange.GRANT_REVOKED,
            OWN,
            "A grant the partner held was revoked.",
            key="consumer",
        ),
        *(
            PartnerEvent(licences.LICENCE_STEPS[step], ALL, f"A licence was {step}.")
            for step in ("issued", "suspended", "resumed", "revoked", "renewed")
        ),
        *(
            PartnerEvent(
                licences.USE_GRANT_STEPS[step],
                OWN,
                f"A holder {step} the partner's use of a licence.",
                key="grantee",
            )
            for step in ("granted", "withdrawn")
        ),
    )
}
