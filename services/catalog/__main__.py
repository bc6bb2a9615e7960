"""Run the catalog service alone: `python -m services.catalog`."""

from __future__ import annotations

from runtime.service import ServiceDefinition, run
from services.catalog import store
from services.catalog.servicer import POLICIES, SERVICE, add_to_server

DEFINITION = ServiceDefinition(
    name="catalog",
    grpc_services=[SERVICE],
    migrations=store.MIGRATIONS,
    add_servicers=add_to_server,
    policies=POLICIES,
    publishes=True,
)

if __name__ == "__main__":
    run(DEFINITION)
