"""Run the partners service alone: `python -m services.partners`."""

from __future__ import annotations

from runtime.service import ServiceDefinition, run
from services.partners import store
from services.partners.servicer import POLICIES, SERVICE, add_to_server

DEFINITION = ServiceDefinition(
    name="partners",
    grpc_services=[SERVICE],
    migrations=store.MIGRATIONS,
    add_servicers=add_to_server,
    policies=POLICIES,
    publishes=True,
)

if __name__ == "__main__":
    run(DEFINITION)
