"""The AsyncAPI document of the events: committed as generated, complete, and true to the wire."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway import asyncapi as gateway_asyncapi
from gateway.endpoints import Call
from runtime import config
from runtime.bus.events import EventType
from services.partners.catalog import PARTNER_EVENTS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "proto" / "asyncapi.json"
_DOC_URI = "urn:smartcity:asyncapi"


def _load() -> ModuleType:
    # proto/ is not a package: load the script by path, registered first for its dataclasses.
    name = "proto_asyncapi"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "proto" / "asyncapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


generator = _load()


@pytest.fixture(scope="module")
def contracts() -> Any:
    return generator.compile_contracts()


@pytest.fixture(scope="module")
def fresh(contracts: Any) -> dict[str, Any]:
    channels = [*generator.platform_channels(), *generator.partner_channels()]
    document: dict[str, Any] = generator.document(contracts, channels)
    return document


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    committed: dict[str, Any] = json.loads(COMMITTED.read_text(encoding="utf-8"))
    return committed


def _published() -> Iterator[EventType[Any]]:
    for service in config.SERVICES:
        try:
            module = importlib.import_module(f"services.{service}.events")
        except ModuleNotFoundError:
            continue
        yield from getattr(module, "PUBLISHED", ())


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def _channel_for(doc: dict[str, Any], address: str) -> dict[str, Any]:
    found = [c for c in doc["channels"].values() if c["address"] == address]
    assert len(found) == 1, f"{address}: {len(found)} channels"
    channel: dict[str, Any] = found[0]
    return channel


def _message_of(doc: dict[str, Any], channel: dict[str, Any]) -> dict[str, Any]:
    (ref,) = (m["$ref"] for m in channel["messages"].values())
    message: dict[str, Any] = _resolve(doc, ref)
    return message


# --- committed, complete ------------------------------------------------------------------------


def test_committed_document_is_what_proto_and_the_registry_generate(
    fresh: dict[str, Any],
) -> None:
    assert COMMITTED.read_text(encoding="utf-8") == generator.render(fresh), (
        "proto/asyncapi.json drifted: run 'make proto' and commit"
    )


def test_every_published_event_has_a_platform_channel(doc: dict[str, Any]) -> None:
    published = list(_published())
    assert published
    for event_type in published:
        channel = _channel_for(doc, event_type.subject)
        assert channel["tags"] == [{"name": "platform"}]
        message = _message_of(doc, channel)
        assert message["x-protobuf-message"] == event_type.payload.DESCRIPTOR.full_name


def test_audit_and_department_delivery_subjects_have_platform_channels(
    doc: dict[str, Any],
) -> None:
    for service in config.SERVICES:
        channel = _channel_for(doc, f"smartcity.{service}.audit.recorded")
        assert _message_of(doc, channel)["x-protobuf-message"] == "smartcity.keys.v1.AuditRecord"
    delivery = _channel_for(doc, "smartcity.exchange.delivery.{department}")
    assert set(delivery["parameters"]) == {"department"}
    assert _message_of(doc, delivery)["x-protobuf-message"] == (
        "smartcity.exchange.v1.DeliveryAvailable"
    )


def test_every_partner_event_has_a_partner_channel_saying_its_scope(doc: dict[str, Any]) -> None:
    partner = [c for c in doc["channels"].values() if c["tags"] == [{"name": "partner"}]]
    assert len(partner) == len(PARTNER_EVENTS)
    for subject, event in PARTNER_EVENTS.items():
        channel = _channel_for(doc, f"smartcity.partners.delivery.{{client}}.{subject}")
        assert set(channel["parameters"]) == {"client"}
        assert channel["description"].startswith(event.summary)
        assert f"Scope `{event.scope}`" in channel["description"]
        assert channel["x-partner-scope"] == event.scope
        message = _message_of(doc, channel)
        assert message["x-protobuf-message"] == event.event_type.payload.DESCRIPTOR.full_name


def test_a_payload_missing_from_proto_fails_loudly(contracts: Any) -> None:
    stray = EventType("smartcity.nowhere.thing.happened", FileDescriptorProto)
    channel = generator.Channel(
        id=stray.subject,
        address=stray.subject,
        event_type=stray,
        tag="platform",
        description="",
        stream="NOWHERE",
        parameters={},
        extra={},
    )
    with pytest.raises(generator.ContractError, match="not a message in proto/"):
        generator.document(contracts, [channel])


# --- AsyncAPI 3.0 structure ---------------------------------------------------------------------


def test_document_is_asyncapi_3_with_resolving_cross_references(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "Haikou smart-city platform events"
    assert doc["servers"]["nats"]["protocol"] == "nats"
    for ref in _refs(doc):
        _resolve(doc, ref)
    component_key = re.compile(r"^[\w\d.\-_]+$")
    for section in ("messages", "schemas"):
        assert all(component_key.match(key) for key in doc["components"][section])
    assert set(doc["operations"]) == {f"receive.{cid}" for cid in doc["channels"]}
    for op_id, operation in doc["operations"].items():
        assert operation["action"] == "receive", op_id
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/")
        # an operation's messages must be messages of its own channel
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), op_id


def test_channel_parameters_match_their_address(doc: dict[str, Any]) -> None:
    for channel_id, channel in doc["channels"].items():
        in_address = set(re.findall(r"\{([^}]+)\}", channel["address"]))
        assert in_address == set(channel.get("parameters", {})), channel_id
        for ref in _refs(channel["messages"]):
            assert ref.startswith("#/components/messages/"), channel_id


def test_messages_declare_protobuf_payloads_and_cloudevents_headers(doc: dict[str, Any]) -> None:
    for name, message in doc["components"]["messages"].items():
        assert message["x-protobuf-message"] == name
        assert message["contentType"] == "application/protobuf"
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        headers = message["headers"]
        assert set(headers["properties"]) == {
            "ce-specversion",
            "ce-id",
            "ce-source",
            "ce-type",
            "ce-time",
            "ce-subject",
            "content-type",
            "traceparent",
            "Nats-Msg-Id",
        }
        assert headers["properties"]["content-type"]["const"] == (
            f"application/protobuf; messageType={name}"
        )
        assert message["summary"], f"{name} has no leading comment in proto/"


# --- the schemas describe the JSON form ---------------------------------------------------------


def _scalar(field: Any, n: int) -> Any:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return f"value {n} 海口"
    if t == FieldDescriptor.TYPE_BYTES:
        return bytes([0, 255, n])
    if t == FieldDescriptor.TYPE_BOOL:
        return True
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1.5 + n
    if field.enum_type is not None:
        return max(v.number for v in field.enum_type.values)  # a non-zero value
    if t in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
    ):
        return -(2**40) - n  # beyond JavaScript's exact integers: written as text
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return 2**40 + n
    return 7 + n


def _fill(message: Message, depth: int = 0) -> Message:
    """Set every field: scalars, enums (non-zero), timestamps, repeated and map fields."""
    for field in message.DESCRIPTOR.fields:
        entry = field.message_type
        if field.is_repeated and entry is not None and entry.GetOptions().map_entry:
            target = getattr(message, field.name)
            key = _scalar(entry.fields_by_name["key"], 1)
            value_field = entry.fields_by_name["value"]
            if value_field.message_type is not None:
                _fill(target[key], depth + 1)
            else:
                target[key] = _scalar(value_field, 1)
        elif entry is not None:
            items = (
                [getattr(message, field.name).add() for _ in range(2)]
                if field.is_repeated
                else [getattr(message, field.name)]
            )
            for item in items:
                if entry.full_name == Timestamp.DESCRIPTOR.full_name:
                    item.FromSeconds(1_767_225_600)
                    item.nanos = 123_000_000
                elif depth < 3:
                    _fill(item, depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).extend([_scalar(field, 1), _scalar(field, 2)])
        else:
            setattr(message, field.name, _scalar(field, 1))
    return message


def _payload_classes() -> dict[str, type[Message]]:
    classes: dict[str, type[Message]] = {}
    for event_type in _published():
        classes[event_type.payload.DESCRIPTOR.full_name] = event_type.payload
    for event in PARTNER_EVENTS.values():
        classes[event.event_type.payload.DESCRIPTOR.full_name] = event.event_type.payload
    from runtime import audit
    from services.exchange.subscriptions import delivery_subject

    for event_type in (audit.event_type("keys"), delivery_subject("psb")):
        classes[event_type.payload.DESCRIPTOR.full_name] = event_type.payload
    return classes


PAYLOADS = _payload_classes()


def _validator(doc: dict[str, Any], full_name: str) -> Draft202012Validator:
    # the schemas' "#/components/schemas/..." refs resolve within the document itself
    registry: Registry[Any] = Registry().with_resource(
        _DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    schema = {"$ref": f"{_DOC_URI}#/components/schemas/{full_name}"}
    return Draft202012Validator(schema, registry=registry)


def test_every_payload_message_has_a_message_and_a_schema(doc: dict[str, Any]) -> None:
    assert set(PAYLOADS) == set(doc["components"]["messages"])
    assert set(PAYLOADS) <= set(doc["components"]["schemas"])


@pytest.mark.parametrize("full_name", sorted(PAYLOADS))
def test_a_populated_payload_in_json_form_validates(doc: dict[str, Any], full_name: str) -> None:
    message = _fill(PAYLOADS[full_name]())
    instance = json_format.MessageToDict(message, preserving_proto_field_name=True)
    # every field was set, so every field is in the JSON form and checked
    assert set(instance) == set(message.DESCRIPTOR.fields_by_name)
    validator = _validator(doc, full_name)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert errors == []
    assert validator.is_valid(json_format.MessageToDict(PAYLOADS[full_name]()))


@pytest.mark.parametrize("full_name", sorted(PAYLOADS))
def test_an_unknown_field_does_not_validate(doc: dict[str, Any], full_name: str) -> None:
    instance = json_format.MessageToDict(
        _fill(PAYLOADS[full_name]()), preserving_proto_field_name=True
    )
    instance["not_in_the_contract"] = "x"
    assert not _validator(doc, full_name).is_valid(instance)


def test_a_wrong_json_form_does_not_validate(doc: dict[str, Any]) -> None:
    validator = _validator(doc, "smartcity.catalog.v1.ResourceChanged")
    assert validator.is_valid({"version": "12", "state": "RESOURCE_STATE_PUBLISHED"})
    # int64 is text in proto3 JSON; enums are their value names; camelCase is not the contract
    assert not validator.is_valid({"version": 12})
    assert not validator.is_valid({"state": "published"})
    assert not validator.is_valid({"resourceId": "r-1"})


# --- served by the gateway ----------------------------------------------------------------------


async def test_gateway_serves_the_committed_document_without_sign_in() -> None:
    route = gateway_asyncapi.ROUTE
    assert (route.method, route.path) == ("GET", "/partner/v1/events/asyncapi.json")
    assert route.anonymous and route.audience is None
    request = make_mocked_request("GET", route.path)
    response = await route.handler(Call(request, None, None, None))  # type: ignore[arg-type]
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.body == COMMITTED.read_bytes()  # type: ignore[attr-defined]
