"""Run the exchange service alone: `python -m services.exchange`."""

from __future__ import annotations

from runtime.service import ServiceDefinition, run
from services.exchange import store
from services.exchange.events import SUBSCRIPTIONS
from services.exchange.servicer import POLICIES, SERVICE, add_to_server

DEFINITION = ServiceDefinition(
    name="exchange",
    grpc_services=[SERVICE],
    migrations=store.MIGRATIONS,
    add_servicers=add_to_server,
    policies=POLICIES,
    publishes=True,
    subscriptions=SUBSCRIPTIONS,
)

if __name__ == "__main__":
    run(DEFINITION)
