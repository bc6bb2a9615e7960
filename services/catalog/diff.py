"""A readable field-by-field diff between two versions of a catalog resource.

Only the content a department edits is compared; identifiers, versions, times, lifecycle state
and catalog listing are not content. Values are rendered as a reviewer reads them: enum values
as lower-case words ("conditional"), repeated values comma-joined, booleans "yes"/"no", the
classification as its code ("301001"). Data items are matched by name, so reordering them alone
is no change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from google.protobuf.message import Message

from services.catalog import domain
from smartcity.catalog.v1 import catalog_pb2

# The editable content but the department (which never changes) and the data items (compared
# item by item, after the rest).
_FIELDS = tuple(f for f in domain.EDITABLE_FIELDS if f not in ("provider_department", "data_items"))
_ITEM_FIELDS = ("type", "description", "personal", "grade")
# What an added or removed item shows; its description may be long and is left out.
_ITEM_SUMMARY = ("type", "personal", "grade")


def _enum(names: Mapping[int, str], number: int) -> str:
    if number == 0:
        return ""
    if number not in names:
        # A value from a newer contract than this build knows: proto3 keeps the number.
        return str(number)
    prefix = names[0].removesuffix("UNSPECIFIED")
    return names[number].removeprefix(prefix).lower()


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, catalog_pb2.Classification):
        return domain.classification_code(value)
    return str(value)


def _render(message: Message, name: str) -> str:
    field = message.DESCRIPTOR.fields_by_name[name]
    value = getattr(message, name)
    values = list(value) if field.is_repeated else [value]
    if field.enum_type is not None:
        names = {v.number: v.name for v in field.enum_type.values}
        return ", ".join(_enum(names, number) for number in values)
    return ", ".join(_scalar(v) for v in values)


def _changed(field: str, before: str, after: str) -> list[catalog_pb2.FieldChange]:
    if before == after:
        return []
    return [catalog_pb2.FieldChange(field=field, change="changed", before=before, after=after)]


def _item_summary(item: catalog_pb2.DataItem) -> str:
    parts = ((name, _render(item, name)) for name in _ITEM_SUMMARY)
    return ", ".join(f"{name} {value}" for name, value in parts if value)


def _item_changes(
    before: Sequence[catalog_pb2.DataItem], after: Sequence[catalog_pb2.DataItem]
) -> list[catalog_pb2.FieldChange]:
    # Names are unique within a version (domain.validate_new_resource).
    old = {item.name: item for item in before}
    new = {item.name: item for item in after}
    removed = [
        catalog_pb2.FieldChange(
            field=f"data_items[{item.name}]", change="removed", before=_item_summary(item)
        )
        for item in before
        if item.name not in new
    ]
    changed = [
        change
        for item in after
        if item.name in old
        for name in _ITEM_FIELDS
        for change in _changed(
            f"data_items[{item.name}].{name}",
            _render(old[item.name], name),
            _render(item, name),
        )
    ]
    added = [
        catalog_pb2.FieldChange(
            field=f"data_items[{item.name}]", change="added", after=_item_summary(item)
        )
        for item in after
        if item.name not in old
    ]
    return removed + changed + added


def diff(
    before: catalog_pb2.Resource, after: catalog_pb2.Resource
) -> list[catalog_pb2.FieldChange]:
    """What changed from `before` to `after`, field by field; [] when the content is the same.

    Data item changes come last: removed items, then changed sub-fields, then added items, each
    in the order of the version that has them (changed ones in `after`'s order).
    """
    changes = [
        change
        for name in _FIELDS
        for change in _changed(name, _render(before, name), _render(after, name))
    ]
    return changes + _item_changes(before.data_items, after.data_items)
