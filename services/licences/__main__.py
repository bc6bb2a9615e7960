"""Run the licences service alone: `python -m services.licences`."""

from __future__ import annotations

from runtime.service import ServiceDefinition, ServiceRuntime, run
from services.licences import demo, store
from services.licences.servicer import POLICIES, create_servicer


async def _start(rt: ServiceRuntime) -> None:
    if rt.settings.demo:
        rt.background(demo.seed(rt), name="licences-demo")


DEFINITION = ServiceDefinition(
    name="licences",
    migrations=store.MIGRATIONS,
    servicer=create_servicer,
    policies=POLICIES,
    publishes=True,
    on_start=_start,
)

if __name__ == "__main__":
    run(DEFINITION)
