"""Event types and their CloudEvents 1.0 binary-mode headers on NATS.

An event type pairs a subject `smartcity.<service>.<entity>.<verb>` with the protobuf message from
`proto/` that is its payload. Payloads are thin: identifiers, types, versions; no personal data.
The service a subject names owns it: only that service's NATS identity may publish it
(runtime/natsauth.py), and its `ce-source` is `/smartcity/<service>` (consumers check).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

SPEC_VERSION = "1.0"


@dataclass(frozen=True)
class EventType(Generic[M]):
    """A kind of event: its subject (also its CloudEvents type) and its payload message."""

    subject: str
    payload: type[M]

    @property
    def service(self) -> str:
        return owner(self.subject)

    @property
    def source(self) -> str:
        """The `ce-source` of every event of this type: its owner's."""
        return source_of(self.service)

    @property
    def content_type(self) -> str:
        return f"application/protobuf; messageType={self.payload.DESCRIPTOR.full_name}"

    def parse(self, data: bytes) -> M:
        message = self.payload()
        message.ParseFromString(data)
        return message


def cloudevent_headers(
    *, event_id: str, subject: str, source: str, entity_id: str, time_us: int, content_type: str
) -> dict[str, str]:
    """Binary-mode CloudEvents headers; `Nats-Msg-Id` lets JetStream drop duplicates. An event
    about no one entity has no `ce-subject`: CloudEvents 1.0 wants it non-empty when present."""
    headers = {
        "ce-specversion": SPEC_VERSION,
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": subject,
        "ce-time": datetime.fromtimestamp(time_us / 1e6, UTC).isoformat().replace("+00:00", "Z"),
        "content-type": content_type,
        "Nats-Msg-Id": event_id,
    }
    if entity_id:
        headers["ce-subject"] = entity_id
    return headers


def source_of(service: str) -> str:
    """A service's CloudEvents source, as its outbox relay stamps its events."""
    return f"/smartcity/{service}"


def owner(subject: str) -> str:
    """The service that owns a platform subject (`smartcity.<service>.…`)."""
    return subject.split(".")[1] if subject.startswith("smartcity.") else ""


def stream_name(service: str) -> str:
    """One stream per service: `CATALOG` holds `smartcity.catalog.>`."""
    return service.upper()


def stream_subjects(service: str) -> list[str]:
    return [f"smartcity.{service}.>"]
