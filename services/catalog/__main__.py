"""Run the catalog service alone: `python -m services.catalog`."""

from __future__ import annotations

from runtime.service import ServiceDefinition, ServiceRuntime, run
from services.catalog import demo, store
from services.catalog.events import SUBSCRIPTIONS
from services.catalog.servicer import POLICIES, CatalogServicer


async def _start(rt: ServiceRuntime) -> None:
    if rt.settings.demo:
        await demo.seed(rt)


DEFINITION = ServiceDefinition(
    name="catalog",
    migrations=store.MIGRATIONS,
    servicer=CatalogServicer,
    policies=POLICIES,
    publishes=True,
    subscriptions=SUBSCRIPTIONS,
    on_start=_start,
)

if __name__ == "__main__":
    run(DEFINITION)
