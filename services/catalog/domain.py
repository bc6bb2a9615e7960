"""Catalog rules: pure functions over the contract's messages, no I/O.

Every rejection names the field and the rule it breaks.
"""

from __future__ import annotations

import re

from runtime.auth import Principal
from runtime.errors import FieldViolation, InvalidArgument, PermissionDenied
from smartcity.catalog.v1 import catalog_pb2

ROLE_CATALOG_OFFICER = "catalog_officer"

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")
DEPARTMENT_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,19}$")
ITEM_TYPES = frozenset({"string", "integer", "decimal", "boolean", "date", "datetime", "binary"})
MAX_NAME = 200
MAX_SUMMARY = 2000
MAX_ITEM_NAME = 100
MAX_ITEM_DESCRIPTION = 500
MAX_ITEMS = 500


def _text(out: list[FieldViolation], field: str, value: str, *, limit: int, required: bool) -> None:
    if required and not value.strip():
        out.append(FieldViolation(field, "is required"))
    elif len(value) > limit:
        out.append(FieldViolation(field, f"is longer than {limit} characters"))


def _enum(out: list[FieldViolation], field: str, value: int, enum: type) -> None:
    if value == 0:
        out.append(FieldViolation(field, "is required"))
    elif value not in enum.values():  # type: ignore[attr-defined]
        out.append(FieldViolation(field, f"has no value {value}"))


def validate_new_resource(resource: catalog_pb2.Resource) -> None:
    """Raise InvalidArgument listing every broken rule of a resource to be created."""
    out: list[FieldViolation] = []
    if not CODE_PATTERN.fullmatch(resource.code):
        out.append(
            FieldViolation(
                "code", "must be 3 to 40 upper-case letters, digits or '-', e.g. 'A01-0001'"
            )
        )
    _text(out, "name", resource.name, limit=MAX_NAME, required=True)
    if not DEPARTMENT_PATTERN.fullmatch(resource.provider_department):
        out.append(FieldViolation("provider_department", "must be a department code, e.g. 'psb'"))
    _text(out, "summary", resource.summary, limit=MAX_SUMMARY, required=False)
    _enum(out, "share_type", resource.share_type, catalog_pb2.ShareType)
    _enum(out, "open_type", resource.open_type, catalog_pb2.OpenType)
    _enum(out, "update_cycle", resource.update_cycle, catalog_pb2.UpdateCycle)
    _enum(out, "data_grade", resource.data_grade, catalog_pb2.DataGrade)
    if not resource.data_items:
        out.append(FieldViolation("data_items", "needs at least one data item"))
    elif len(resource.data_items) > MAX_ITEMS:
        out.append(FieldViolation("data_items", f"has more than {MAX_ITEMS} items"))
    names: set[str] = set()
    has_personal = False
    for i, item in enumerate(resource.data_items[:MAX_ITEMS]):
        at = f"data_items[{i}]"
        _text(out, f"{at}.name", item.name, limit=MAX_ITEM_NAME, required=True)
        if item.name in names:
            out.append(FieldViolation(f"{at}.name", "repeats another data item's name"))
        names.add(item.name)
        if item.type not in ITEM_TYPES:
            out.append(
                FieldViolation(f"{at}.type", "must be one of " + ", ".join(sorted(ITEM_TYPES)))
            )
        _text(
            out, f"{at}.description", item.description, limit=MAX_ITEM_DESCRIPTION, required=False
        )
        if item.grade and item.grade not in catalog_pb2.DataGrade.values():
            out.append(FieldViolation(f"{at}.grade", f"has no value {item.grade}"))
        elif item.grade > resource.data_grade > 0:
            out.append(FieldViolation(f"{at}.grade", "cannot exceed the resource's data_grade"))
        has_personal = has_personal or item.personal
    # Art. 38: personal data is never shared or opened without conditions.
    if has_personal and resource.share_type == catalog_pb2.SHARE_TYPE_UNCONDITIONAL:
        out.append(
            FieldViolation("share_type", "a resource with personal data cannot be unconditional")
        )
    if has_personal and resource.open_type == catalog_pb2.OPEN_TYPE_OPEN:
        out.append(FieldViolation("open_type", "a resource with personal data cannot be open"))
    if out:
        raise InvalidArgument(out)


def authorise_create(principal: Principal, resource: catalog_pb2.Resource) -> None:
    """Only a catalog officer of the provider department registers its resources."""
    if not principal.has_role(ROLE_CATALOG_OFFICER):
        raise PermissionDenied("registering resources requires the catalog_officer role")
    if principal.department != resource.provider_department:
        raise PermissionDenied("officers register resources of their own department only")
