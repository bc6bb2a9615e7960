"""The AsyncAPI 3.0 document of every event the platform publishes and partners may receive.

Two sources, cross-checked: the subjects each event message declares in ``proto/`` (read by
``runtime.bus.contracts``, from which each process's NATS permissions derive too) say which
subjects exist and which protobuf message each carries (every service's events, the audit
subjects, the exchange's per-department deliveries), with the partners' ``PARTNER_EVENTS`` for
what partners may receive; ``proto/``, compiled with source
info by ``lint.py``'s protoc, says what each message holds and what its comments say. A payload
that is not in ``proto/`` (or differs from it) is an error, not a silent gap.

Usage: ``python proto/asyncapi.py [OUT]`` (default: ``proto/asyncapi.json`` beside this script).
The output is deterministic (sorted keys, no timestamps), so ``make proto-check`` can diff it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.descriptor_pb2 import DescriptorProto, FileDescriptorSet

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as `python proto/asyncapi.py`: the registry is in the repo
    sys.path.insert(0, str(ROOT))

from runtime import audit, config  # noqa: E402
from runtime.bus import contracts  # noqa: E402
from runtime.bus.events import EventType, stream_name  # noqa: E402
from smartcity.exchange.v1 import events_pb2 as exchange_events  # noqa: E402

DEFAULT_OUT = HERE / "asyncapi.json"
PARTNER_STREAM = "PARTNERS"
_TIMESTAMP = "google.protobuf.Timestamp"
# SourceCodeInfo location paths (descriptor.proto field numbers), as in lint.py.
_FILE_MESSAGE = 4
_FILE_ENUM = 5
_MESSAGE_FIELD = 2
_MESSAGE_NESTED = 3
_MESSAGE_ENUM = 4

_Schema = dict[str, Any]

INFO_DESCRIPTION = """\
Every event the Haikou smart-city platform publishes, generated from `proto/` and the services' \
event registry (`python proto/asyncapi.py`; never edit it by hand).

Events are CloudEvents 1.0 in NATS binary mode: the attributes travel as NATS headers \
`ce-specversion`, `ce-id`, `ce-source`, `ce-type` (the subject), `ce-time`, `ce-subject` (the \
entity's id) and `content-type`, with `traceparent` (W3C Trace Context) and `Nats-Msg-Id` (the \
event id: JetStream drops duplicates). The payload is the protobuf encoding of the message from \
`proto/` named in `content-type` (`application/protobuf; messageType=<full name>`) and in each \
message's `x-protobuf-message`. Each service publishes on its own JetStream stream \
(`smartcity.<service>.>`); delivery is at least once, so consumers deduplicate by `ce-id`.

Partner systems receive the events they are entitled to (channels tagged `partner`; each says \
its scope: `all`, `own` or `granted`) on \
`smartcity.partners.delivery.<client id>.<event type>`: on NATS with the durable JetStream \
consumer `partner-<client id>` on stream `PARTNERS`, or the pull consumer \
`replay-<client id>` the platform creates on request (`POST /partner/v1/events/nats-replay`) \
to replay from a sequence or a time (in subjects and consumer names a \
client id's dots are written `~`; the copies keep the original headers and protobuf payload), \
as signed webhooks and as server-sent events. The NATS server itself refuses a partner \
everything else: creating consumers, another partner's consumers, subjects and \
acknowledgements, the stream's \
info and its messages by sequence. On webhooks and server-sent events the payload is \
the JSON form of the message (the proto3 JSON mapping with the proto field names, as the \
schemas here describe it) inside a CloudEvents JSON envelope.

Each service publishes with a NATS identity of its own that may publish only its own \
subjects, and consumers refuse an event whose `ce-source` is not `/smartcity/<service>` of \
its subject.
"""

_SCOPES = {
    "all": "every event of this type",
    "own": "only the events about the partner itself (`{key}` is `partner:<client id>`)",
    "granted": "only the events of resources the partner's live exchange grants cover (by `{key}`)",
}


# services/partners/domain.py: token(); a dot in a client id would split the subject token.
_CLIENT_PARAMETER = (
    "The partner system's client id as one subject token: each `.` in it is written `~` "
    "(client `demo.partner` reads `smartcity.partners.delivery.demo~partner.>`)."
)


class ContractError(Exception):
    """The event registry and proto/ disagree; the message says where."""


@dataclass(frozen=True)
class Contracts:
    """proto/ compiled with source info: descriptors by full name, and their leading comments."""

    pool: descriptor_pool.DescriptorPool
    comments: dict[str, str]
    files: frozenset[str]

    def message(self, full_name: str) -> Descriptor:
        try:
            found = self.pool.FindMessageTypeByName(full_name)
        except KeyError:
            raise ContractError(f"{full_name} is not a message in proto/") from None
        if found.file.name not in self.files:  # an import, such as descriptor.proto
            raise ContractError(f"{full_name} is not a message in proto/")
        return found


def _load_lint() -> ModuleType:
    # proto/ is not a package: load lint.py by path (registered first, for its dataclasses).
    name = "proto_lint"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "lint.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compile_contracts(root: Path = HERE) -> Contracts:
    """Compile every .proto under ``root`` with lint.py's protoc call (source info included)."""
    lint = _load_lint()
    root = root.resolve()
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.proto") if p.is_file())
    fds: FileDescriptorSet | None
    fds, problems = lint._compile(root, names)
    if fds is None:
        raise ContractError("proto/ does not compile:\n" + "\n".join(map(str, problems)))
    pool = descriptor_pool.DescriptorPool()
    comments: dict[str, str] = {}
    for fd in fds.file:  # --include_imports orders dependencies first
        pool.AddSerializedFile(fd.SerializeToString())
        if fd.name not in names:
            continue
        located = {
            tuple(loc.path): loc.leading_comments for loc in reversed(fd.source_code_info.location)
        }  # reversed: the first location of a path (its declaration) wins
        prefix = f"{fd.package}." if fd.package else ""
        for i, message in enumerate(fd.message_type):
            _index_message(message, prefix, (_FILE_MESSAGE, i), located, comments)
        for i, enum in enumerate(fd.enum_type):
            comments[prefix + enum.name] = located.get((_FILE_ENUM, i), "")
    return Contracts(pool, comments, frozenset(names))


def _index_message(
    message: DescriptorProto,
    prefix: str,
    path: tuple[int, ...],
    located: dict[tuple[int, ...], str],
    comments: dict[str, str],
) -> None:
    full = prefix + message.name
    comments[full] = located.get(path, "")
    for i, field in enumerate(message.field):
        comments[f"{full}.{field.name}"] = located.get((*path, _MESSAGE_FIELD, i), "")
    for i, nested in enumerate(message.nested_type):
        _index_message(nested, f"{full}.", (*path, _MESSAGE_NESTED, i), located, comments)
    for i, enum in enumerate(message.enum_type):
        comments[f"{full}.{enum.name}"] = located.get((*path, _MESSAGE_ENUM, i), "")


def _text(comment: str) -> str:
    """A leading comment as Markdown: the author's lines, without protoc's leading spaces."""
    lines = [line.strip() for line in comment.strip("\n").splitlines()]
    return "\n".join(lines).strip()


def _summary(comment: str) -> str:
    """The first sentence of a comment (subjects contain dots, but never a dot and a space)."""
    flat = " ".join(_text(comment).split())
    head, dot, _ = flat.partition(". ")
    return head + dot.strip() if dot else flat


# --- the event registry -------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """One channel of the document: an event type on a platform or a partner subject."""

    id: str
    address: str
    event_type: EventType[Any]
    tag: str
    description: str
    stream: str
    parameters: dict[str, str]
    extra: dict[str, Any]


def platform_channels() -> list[Channel]:
    channels: list[Channel] = []
    for service in config.SERVICES:
        for event_type in contracts.published(service):
            channels.append(
                Channel(
                    id=event_type.subject,
                    address=event_type.subject,
                    event_type=event_type,
                    tag="platform",
                    description=f"Published by the {service} service.",
                    stream=stream_name(event_type.service),
                    parameters={},
                    extra={},
                )
            )
    for service in config.SERVICES:
        event_type = audit.event_type(service)
        channels.append(
            Channel(
                id=event_type.subject,
                address=event_type.subject,
                event_type=event_type,
                tag="platform",
                description=f"The {service} service's audit records, in the transaction of each "
                "audited action; the keys service appends them to the audit chain.",
                stream=stream_name(service),
                parameters={},
                extra={},
            )
        )
    delivery = contracts.templated(exchange_events.DeliveryAvailable, department="{department}")
    channels.append(
        Channel(
            id=delivery.subject.removesuffix(".{department}"),
            address=delivery.subject,
            event_type=delivery,
            tag="platform",
            description="A subscribing department's own subject: a batch added records to a "
            "resource it subscribes to and still holds a grant of. Read them with "
            "ExchangeService.ListChanges.",
            stream=stream_name(delivery.service),
            parameters={"department": "The consumer department's code, e.g. `psb`."},
            extra={},
        )
    )
    return channels


def partner_channels() -> list[Channel]:
    from services.partners.catalog import PARTNER_EVENTS

    channels: list[Channel] = []
    for subject, event in sorted(PARTNER_EVENTS.items()):
        if event.scope not in _SCOPES:
            raise ContractError(f"partner event {subject} has an unknown scope {event.scope!r}")
        scope = _SCOPES[event.scope].format(key=event.key)
        channels.append(
            Channel(
                id=f"partners.{subject}",
                address=f"smartcity.partners.delivery.{{client}}.{subject}",
                event_type=event.event_type,
                tag="partner",
                description=f"{event.summary}\n\nScope `{event.scope}`: a partner entitled to "
                f"`{subject}` receives {scope}. Also delivered as signed webhooks and as "
                "server-sent events, in JSON form inside a CloudEvents JSON envelope.",
                stream=PARTNER_STREAM,
                parameters={"client": _CLIENT_PARAMETER},
                extra={"x-partner-scope": event.scope},
            )
        )
    return channels


# --- JSON Schemas of the messages' JSON form -----------------------------------------------------

_INTEGER_KEY = {"pattern": "^-?[0-9]+$"}
_UNSIGNED_KEY = {"pattern": "^[0-9]+$"}
_NUMBER: _Schema = {"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]}
_INT32: _Schema = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32: _Schema = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
# proto3 JSON writes 64-bit integers as decimal strings (JavaScript numbers lose precision).
_INT64: _Schema = {"type": "string", **_INTEGER_KEY}
_UINT64: _Schema = {"type": "string", **_UNSIGNED_KEY}
_SCALARS: dict[int, _Schema] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldDescriptor.TYPE_DOUBLE: _NUMBER,
    FieldDescriptor.TYPE_FLOAT: _NUMBER,
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
}
_MAP_KEYS: dict[int, _Schema] = {
    **dict.fromkeys(
        (
            FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_SINT32,
            FieldDescriptor.TYPE_SFIXED32,
            FieldDescriptor.TYPE_INT64,
            FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_SFIXED64,
        ),
        _INTEGER_KEY,
    ),
    **dict.fromkeys(
        (
            FieldDescriptor.TYPE_UINT32,
            FieldDescriptor.TYPE_FIXED32,
            FieldDescriptor.TYPE_UINT64,
            FieldDescriptor.TYPE_FIXED64,
        ),
        _UNSIGNED_KEY,
    ),
    FieldDescriptor.TYPE_BOOL: {"enum": ["true", "false"]},
}


def schema_ref(full_name: str) -> str:
    return f"#/components/schemas/{full_name}"


class _Schemas:
    """The schemas of messages and of every message they hold, by full name."""

    def __init__(self, contracts: Contracts) -> None:
        self.contracts = contracts
        self.by_name: dict[str, _Schema] = {}

    def add(self, message: Descriptor) -> str:
        name = message.full_name
        if name.startswith("google.protobuf."):
            raise ContractError(f"no JSON Schema for {name} yet: add its JSON mapping here")
        if name not in self.by_name:
            self.by_name[name] = {}  # placeholder first: recursive messages terminate
            schema: _Schema = {
                "type": "object",
                "title": message.name,
                "additionalProperties": False,
                "properties": {f.name: self._field(f) for f in message.fields},
            }
            described = _text(self.contracts.comments.get(name, ""))
            if described:
                schema["description"] = described
            self.by_name[name] = schema
        return schema_ref(name)

    def _field(self, field: FieldDescriptor) -> _Schema:
        entry = _map_entry(field)
        if entry is not None:
            key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
            schema: _Schema = {"type": "object", "additionalProperties": self._single(value)}
            if key.type in _MAP_KEYS:
                schema["propertyNames"] = _MAP_KEYS[key.type]
        elif field.is_repeated:
            schema = {"type": "array", "items": self._single(field)}
        else:
            schema = self._single(field)
        described = _text(self.contracts.comments.get(field.full_name, ""))
        if not described and field.enum_type is not None:
            # an enum field without words of its own is described by its enum's
            described = _text(self.contracts.comments.get(field.enum_type.full_name, ""))
        if described:
            schema = {**schema, "description": described}
        return schema

    def _single(self, field: FieldDescriptor) -> _Schema:
        if field.message_type is not None:
            if field.message_type.full_name == _TIMESTAMP:
                return {"type": "string", "format": "date-time"}
            return {"$ref": self.add(field.message_type)}
        if field.enum_type is not None:
            return {"type": "string", "enum": _enum_names(field.enum_type)}
        return dict(_SCALARS[field.type])


def _map_entry(field: FieldDescriptor) -> Descriptor | None:
    """The synthetic entry message of a ``map<,>`` field, or None for any other field."""
    entry = field.message_type
    if field.is_repeated and entry is not None and entry.GetOptions().map_entry:
        return entry
    return None


def _enum_names(enum: EnumDescriptor) -> list[str]:
    return [value.name for value in enum.values]


def _check_payload(event_type: EventType[Any], contracts: Contracts) -> Descriptor:
    """The payload's descriptor in proto/, checked against the generated code the code uses."""
    code = event_type.payload.DESCRIPTOR
    try:
        proto = contracts.message(code.full_name)
    except ContractError:
        raise ContractError(
            f"{event_type.subject}: its payload {code.full_name} is not a message in proto/"
        ) from None

    def shape(d: Any) -> list[tuple[str, int, int, bool]]:
        return [(f.name, f.number, f.type, f.is_repeated) for f in d.fields]

    if shape(code) != shape(proto):
        raise ContractError(
            f"{event_type.subject}: the generated code of {code.full_name} differs from proto/: "
            "run proto/generate.sh (make proto)"
        )
    return proto


# --- the document -------------------------------------------------------------------------------

_HEADER_DOCS = {
    "ce-specversion": {"const": "1.0", "description": "CloudEvents version."},
    "ce-id": {
        "type": "string",
        "format": "uuid",
        "description": "The event's id; consumers deduplicate by it.",
    },
    "ce-source": {
        "type": "string",
        "pattern": "^/smartcity/[a-z_]+$",
        "description": "The publishing service: `/smartcity/<service>`.",
    },
    "ce-type": {
        "type": "string",
        "description": "The event type: the platform subject it was published on, "
        "`smartcity.<service>.<entity>.<verb>`.",
    },
    "ce-time": {
        "type": "string",
        "format": "date-time",
        "description": "When the change committed (RFC 3339, UTC).",
    },
    "ce-subject": {"type": "string", "description": "The id of the entity the event is about."},
    "traceparent": {
        "type": "string",
        "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": "W3C Trace Context of the request that caused the event, when traced.",
    },
    "Nats-Msg-Id": {
        "type": "string",
        "format": "uuid",
        "description": "Equal to `ce-id`: JetStream drops a duplicate publication.",
    },
}


def _headers(full_name: str) -> _Schema:
    properties: dict[str, _Schema] = {
        **_HEADER_DOCS,
        "content-type": {
            "const": f"application/protobuf; messageType={full_name}",
            "description": "The payload's encoding and protobuf message.",
        },
    }
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(name for name in properties if name != "traceparent"),
    }


def _message(message: Descriptor, contracts: Contracts, payload_ref: str) -> _Schema:
    comment = contracts.comments.get(message.full_name, "")
    encoding = (
        f"On NATS the payload is the protobuf encoding of `{message.full_name}`; the schema is "
        "its JSON form (proto3 JSON mapping, proto field names), as partners receive it on "
        "webhooks and server-sent events."
    )
    doc: _Schema = {
        "name": message.name,
        "title": message.name,
        "contentType": "application/protobuf",
        "headers": _headers(message.full_name),
        "payload": {"$ref": payload_ref},
        "description": f"{_text(comment)}\n\n{encoding}" if _text(comment) else encoding,
        "x-protobuf-message": message.full_name,
    }
    if _text(comment):
        doc["summary"] = _summary(comment)
    return doc


def message_ref(full_name: str) -> str:
    return f"#/components/messages/{full_name}"


def document(contracts: Contracts, channels: Iterable[Channel]) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of these channels, with proto/'s messages and comments."""
    schemas = _Schemas(contracts)
    messages: dict[str, _Schema] = {}
    doc_channels: dict[str, _Schema] = {}
    operations: dict[str, _Schema] = {}
    for channel in channels:
        if channel.id in doc_channels:
            raise ContractError(f"{channel.address} is declared twice in the event registry")
        descriptor = _check_payload(channel.event_type, contracts)
        full = descriptor.full_name
        if full not in messages:
            messages[full] = _message(descriptor, contracts, schemas.add(descriptor))
        key = descriptor.name
        summary = messages[full].get("summary", "")
        body: _Schema = {
            "address": channel.address,
            "title": channel.address,
            "description": channel.description,
            "messages": {key: {"$ref": message_ref(full)}},
            "tags": [{"name": channel.tag}],
            "x-jetstream-stream": channel.stream,
            **channel.extra,
        }
        if summary:
            body["summary"] = summary
        if channel.parameters:
            body["parameters"] = {
                name: {"description": text} for name, text in channel.parameters.items()
            }
        doc_channels[channel.id] = body
        operation: _Schema = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel.id}"},
            "messages": [{"$ref": f"#/channels/{channel.id}/messages/{key}"}],
            "summary": f"Receive {full.rsplit('.', 1)[-1]} on {channel.address}.",
            "tags": [{"name": channel.tag}],
        }
        if channel.tag == "partner":
            operation["description"] = (
                "On NATS: the durable JetStream consumer `partner-<client id>` on stream "
                f"`{PARTNER_STREAM}`; or as a signed webhook, or as server-sent events."
            )
        operations[f"receive.{channel.id}"] = operation
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Haikou smart-city platform events",
            "version": "1.0.0",
            "description": INFO_DESCRIPTION,
            "tags": [
                {"name": "platform", "description": "Events between the platform's services."},
                {
                    "name": "partner",
                    "description": "Events partner systems may be entitled to, per client.",
                },
            ],
        },
        "defaultContentType": "application/protobuf",
        "servers": {
            "nats": {
                "host": "nats.example.gov.cn:4222",
                "protocol": "nats",
                "description": "A placeholder: the deployment's NATS (JetStream enabled) "
                "goes here.",
            }
        },
        "channels": doc_channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas.by_name},
    }


def build(root: Path = HERE) -> dict[str, Any]:
    """Compile proto/ under ``root`` and document the event registry with it."""
    return document(compile_contracts(root), [*platform_channels(), *partner_channels()])


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        text = render(build())
    except ContractError as exc:
        print(f"asyncapi: {exc}", file=sys.stderr)
        return 1
    out: Path = args.out
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
