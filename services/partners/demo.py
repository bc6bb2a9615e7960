"""Demo entitlements for the embedded mode (`make run`): the demo partner receives the catalog's
listings and the licences' status changes, so that its stream has something to show.

Never in production and never on PostgreSQL (see `runtime.config`).
"""

from __future__ import annotations

from runtime import logs
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from services.partners import store
from services.partners.catalog import ALL, PARTNER_EVENTS

log = logs.get(__name__)

DEMO_PARTNER = "demo.partner"


async def seed(rt: ServiceRuntime) -> None:
    """Entitle the demo partner to every event of scope `all` it is not entitled to yet."""
    granted = 0
    async with rt.db.begin() as conn:
        for subject, event in PARTNER_EVENTS.items():
            if event.scope != ALL:
                continue
            if await store.entitlement(conn, client_id=DEMO_PARTNER, event_type=subject):
                continue
            await store.grant_entitlement(
                conn, client_id=DEMO_PARTNER, event_type=subject, by="demo", at_us=now_us()
            )
            granted += 1
    if granted:
        log.info("demo_entitlements_granted", client_id=DEMO_PARTNER, count=granted)
