"""The platform's events as `proto/` declares them: each event message names the subjects it is
published on (`option (smartcity.events.v1.event)`, proto/smartcity/events/v1/options.proto).

Read from the generated descriptors when asked, so a subject is written once, beside its payload,
and every service, the AsyncAPI document and the NATS permissions take it from there. A subject
is owned by the service it names, which must be the service of the declaring proto package
(`ContractError` otherwise); a part written `{name}` is filled in per tenant or per service.
"""

from __future__ import annotations

import functools
import importlib
from typing import TypeVar

from google.protobuf.message import Message

from runtime.bus.events import EventType, owner
from smartcity.events.v1 import options_pb2

M = TypeVar("M", bound=Message)


class ContractError(ValueError):
    """A declaration in proto/ that breaks the subject rules."""


def subjects(message: type[Message]) -> tuple[str, ...]:
    """The subjects a message declares, in declaration order (none: not an event)."""
    options = message.DESCRIPTOR.GetOptions()
    if not options.HasExtension(options_pb2.event):
        return ()
    declared = tuple(options.Extensions[options_pb2.event].subject)
    service = message.DESCRIPTOR.full_name.split(".")[1]  # smartcity.<service>.v1.<Message>
    for subject in declared:
        if "{" not in subject.split(".")[1] and owner(subject) != service:
            raise ContractError(
                f"{message.DESCRIPTOR.full_name} declares {subject}, which {service} does not own"
            )
    return declared


def event_type(message: type[M]) -> EventType[M]:
    """The event type of a message declared on exactly one fixed subject."""
    declared = subjects(message)
    if len(declared) != 1 or "{" in declared[0]:
        raise ContractError(f"{message.DESCRIPTOR.full_name} is not declared on one subject")
    return EventType(declared[0], message)


def steps(message: type[M]) -> dict[str, EventType[M]]:
    """The event types of a message shared by several steps, by the step (the subject's verb)."""
    declared = [s for s in subjects(message) if "{" not in s]
    if not declared:
        raise ContractError(f"{message.DESCRIPTOR.full_name} declares no subject")
    return {s.rsplit(".", 1)[1]: EventType(s, message) for s in declared}


def templated(message: type[M], **parts: str) -> EventType[M]:
    """The event type of a message declared on one subject with `{name}` parts, filled in."""
    declared = subjects(message)
    if len(declared) != 1 or "{" not in declared[0]:
        raise ContractError(f"{message.DESCRIPTOR.full_name} has no one templated subject")
    return EventType(declared[0].format(**parts), message)


@functools.cache
def published(service: str) -> tuple[EventType[Message], ...]:
    """The fixed subjects a service's events.proto declares (`smartcity.<service>.v1`), in the
    file's order: what the service publishes through its outbox, its audit records aside."""
    try:
        module = importlib.import_module(f"smartcity.{service}.v1.events_pb2")
    except ModuleNotFoundError:
        return ()
    found: list[EventType[Message]] = []
    for descriptor in module.DESCRIPTOR.message_types_by_name.values():
        message: type[Message] = getattr(module, descriptor.name)
        found.extend(EventType(s, message) for s in subjects(message) if "{" not in s)
    return tuple(found)
