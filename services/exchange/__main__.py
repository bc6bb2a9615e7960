"""Run the exchange service alone: `python -m services.exchange`."""

from __future__ import annotations

from runtime.service import ServiceDefinition, run
from services.exchange import store
from services.exchange.events import SUBSCRIPTIONS
from services.exchange.servicer import POLICIES, create_servicer

DEFINITION = ServiceDefinition(
    name="exchange",
    migrations=store.MIGRATIONS,
    servicer=create_servicer,
    policies=POLICIES,
    publishes=True,
    subscriptions=SUBSCRIPTIONS,
)

if __name__ == "__main__":
    run(DEFINITION)
