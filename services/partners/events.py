"""Events the partners service publishes: an entitlement granted or revoked (client ids and event
types only). The deliveries to partners are copies of other services' events (`fanout`), on each
partner's own subject; and what it consumes: the partner event types of each source stream
(one fan-out consumer per stream), and any consumer of its own stream (its partners' durables,
webhooks and server-sent events)."""

from __future__ import annotations

from collections import defaultdict

from runtime.bus import contracts
from runtime.bus.events import stream_name
from runtime.natsauth import ANY_CONSUMER, Consumes
from services.partners.catalog import PARTNER_EVENTS
from services.partners.domain import DELIVERY_PREFIX, STREAM
from smartcity.partners.v1 import events_pb2

# Subjects are declared beside their payloads in proto/smartcity/partners/v1/events.proto.
ENTITLEMENT_STEPS = contracts.steps(events_pb2.EntitlementChanged)
PUBLISHED = contracts.published("partners")
# Each partner's deliveries: copies of the events it is entitled to (`fanout`).
TENANT_SUBJECTS = (f"{DELIVERY_PREFIX}.>",)


def fanout_sources() -> dict[str, list[str]]:
    """The partner event types of each source service."""
    found: dict[str, list[str]] = defaultdict(list)
    for subject, event in PARTNER_EVENTS.items():
        found[event.event_type.service].append(subject)
    return {service: sorted(subjects) for service, subjects in sorted(found.items())}


def fanout_durable(service: str) -> str:
    return f"partners-fanout-{service}"


CONSUMED = (
    *(
        Consumes(stream_name(service), fanout_durable(service), tuple(subjects))
        for service, subjects in fanout_sources().items()
    ),
    Consumes(STREAM, ANY_CONSUMER, (f"{DELIVERY_PREFIX}.>",)),
)
