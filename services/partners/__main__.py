"""Run the partners service alone: `python -m services.partners`."""

from __future__ import annotations

from runtime.service import ServiceDefinition, ServiceRuntime, run
from services.partners import demo, store
from services.partners.servicer import POLICIES, create_servicer


async def _start(rt: ServiceRuntime) -> None:
    if rt.settings.demo:
        await demo.seed(rt)


DEFINITION = ServiceDefinition(
    name="partners",
    migrations=store.MIGRATIONS,
    servicer=create_servicer,
    policies=POLICIES,
    publishes=True,
    on_start=_start,
)

if __name__ == "__main__":
    run(DEFINITION)
