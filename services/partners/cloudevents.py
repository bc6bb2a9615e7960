"""A delivered event in the JSON form partners without protobuf read (webhooks, server-sent
events): a CloudEvents 1.0 JSON document whose `data` is the payload in the proto3 JSON mapping
with the proto field names, plus the `traceparent` (Distributed Tracing extension) and the
`sequence` of the delivery on the partner's subject (Sequence extension)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from google.protobuf import json_format

from services.partners.catalog import PARTNER_EVENTS


def document(headers: Mapping[str, str], data: bytes, *, sequence: int) -> dict[str, Any]:
    event_type = headers.get("ce-type", "")
    found = PARTNER_EVENTS.get(event_type)
    payload: Any = None
    if found is not None:
        payload = json_format.MessageToDict(
            found.event_type.parse(data), preserving_proto_field_name=True
        )
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": headers.get("ce-id", ""),
        "source": headers.get("ce-source", ""),
        "type": event_type,
        "time": headers.get("ce-time", ""),
        "datacontenttype": "application/json",
        "sequence": str(sequence),
        "data": payload,
    }
    if headers.get("ce-subject"):  # CloudEvents 1.0: non-empty when present
        doc["subject"] = headers["ce-subject"]
    if headers.get("traceparent"):
        doc["traceparent"] = headers["traceparent"]
    return doc


def encode(headers: Mapping[str, str], data: bytes, *, sequence: int) -> bytes:
    return orjson.dumps(document(headers, data, sequence=sequence))
