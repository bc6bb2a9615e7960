"""Field behaviour declared once in proto (`google.api.field_behavior`), read from descriptors.

REQUIRED: a request must set the field; OUTPUT_ONLY: the server sets it and refuses it in a
request; IMMUTABLE: set when the resource is created, never changed. The gateway checks
requests with it and the OpenAPI document derives `required` and `readOnly` from it, so the
rule is written in one place: beside the field, in `proto/`.
"""

from __future__ import annotations

import functools
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import FieldDescriptor

REQUIRED = field_behavior_pb2.REQUIRED
OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
IMMUTABLE = field_behavior_pb2.IMMUTABLE


@functools.cache
def behaviours(field: FieldDescriptor) -> frozenset[int]:
    """The field's declared behaviours (REQUIRED, OUTPUT_ONLY, ...); empty when none."""
    options: Any = field.GetOptions()
    return frozenset(options.Extensions[field_behavior_pb2.field_behavior])


def _with(descriptor: Any, behaviour: int) -> frozenset[str]:
    return frozenset(f.name for f in descriptor.fields if behaviour in behaviours(f))


@functools.cache
def required(descriptor: Any) -> frozenset[str]:
    """Names of the message's REQUIRED fields."""
    return _with(descriptor, REQUIRED)


@functools.cache
def output_only(descriptor: Any) -> frozenset[str]:
    """Names of the message's OUTPUT_ONLY fields: set by the server, refused in requests."""
    return _with(descriptor, OUTPUT_ONLY)


@functools.cache
def immutable(descriptor: Any) -> frozenset[str]:
    """Names of the message's IMMUTABLE fields: given at creation, never changed."""
    return _with(descriptor, IMMUTABLE)
