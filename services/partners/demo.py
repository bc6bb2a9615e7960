"""Demo entitlements for the embedded mode (`make run`): the demo partner receives the catalog's
listings and withdrawals and the licences' revocations, so that its stream has something to
show (a bank checking the licences it was shown).

Never in production and never on PostgreSQL (see `runtime.config`).
"""

from __future__ import annotations

from runtime import logs
from runtime.bus import contracts
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from services.partners import store
from smartcity.catalog.v1 import events_pb2 as catalog_events
from smartcity.licences.v1 import events_pb2 as licences_events

log = logs.get(__name__)

DEMO_PARTNER = "demo.partner"
DEMO_EVENT_TYPES = (
    contracts.steps(catalog_events.ResourceChanged)["published"].subject,
    contracts.steps(catalog_events.ResourceChanged)["withdrawn"].subject,
    contracts.steps(licences_events.LicenceChanged)["revoked"].subject,
)


async def seed(rt: ServiceRuntime) -> None:
    """Entitle the demo partner to the demo event types it is not entitled to yet."""
    granted = 0
    async with rt.db.begin() as conn:
        for subject in DEMO_EVENT_TYPES:
            if await store.entitlement(conn, client_id=DEMO_PARTNER, event_type=subject):
                continue
            await store.grant_entitlement(
                conn, client_id=DEMO_PARTNER, event_type=subject, by="demo", at_us=now_us()
            )
            granted += 1
    if granted:
        log.info("demo_entitlements_granted", client_id=DEMO_PARTNER, count=granted)
