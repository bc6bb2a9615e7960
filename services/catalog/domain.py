"""Catalog rules: pure functions over the contract's messages, no I/O.

Metadata follows the national catalog compilation guide (政务信息资源目录编制指南): classification,
resource code, provider, share and open types with their conditions, update cycle, data items,
and the data grade of Art. 38. Every rejection names the field and the rule it breaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from runtime import constraints, identifiers
from runtime.auth import Principal
from runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied
from runtime.roles import ROLE_BDB_ADMIN as ROLE_BDB_ADMIN
from runtime.roles import ROLE_CATALOG_OFFICER as ROLE_CATALOG_OFFICER
from smartcity.catalog.v1 import catalog_pb2 as pb

# The Big Data Bureau confirms and publishes the catalogs (Art. 12).
BUREAU = "bdb"

DEPARTMENT_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,19}$")
CODE_PATTERN = re.compile(r"^[1-3][0-9]{5}/[0-9]{6}$")
CATEGORIES = {"1": "basic", "2": "theme", "3": "department"}
ITEM_TYPES = frozenset({"string", "integer", "decimal", "boolean", "date", "datetime", "binary"})
FORMATS = frozenset({"database", "spreadsheet", "document", "image", "stream", "other"})
# Limits declared once, in proto (buf.validate): the gRPC server path checks them before this
# module runs; these rules read them so that a resource checked here says the same.
MAX_NAME: int = constraints.declared(pb.Resource, "name").max_len
MAX_SUMMARY: int = constraints.declared(pb.Resource, "summary").max_len
MAX_CONDITIONS: int = constraints.declared(pb.Resource, "share_conditions").max_len
MAX_COMMENT = 2000
MAX_ITEM_NAME: int = constraints.declared(pb.DataItem, "name").max_len
MAX_ITEM_DESCRIPTION: int = constraints.declared(pb.DataItem, "description").max_len
MAX_ITEMS: int = constraints.declared(pb.Resource, "data_items").max_items
MAX_RELATED: int = constraints.declared(pb.Resource, "related_codes").max_items
MAX_KEYWORDS: int = constraints.declared(pb.Resource, "keywords").max_items
MAX_KEYWORD: int = constraints.declared(pb.Resource, "keywords").items.string.max_len

# The editable content of a resource: what a department writes, what versions and diffs cover,
# in the order a reviewer reads it.
EDITABLE_FIELDS = (
    "name",
    "provider_department",
    "provider_code",
    "summary",
    "classification",
    "format",
    "share_type",
    "share_conditions",
    "share_basis",
    "share_methods",
    "open_type",
    "open_conditions",
    "update_cycle",
    "data_grade",
    "keywords",
    "related_codes",
    "data_items",
)

DRAFT, SUBMITTED, RETURNED = (
    pb.RESOURCE_STATE_DRAFT,
    pb.RESOURCE_STATE_SUBMITTED,
    pb.RESOURCE_STATE_RETURNED,
)
CONFIRMED, PUBLISHED, WITHDRAWN = (
    pb.RESOURCE_STATE_CONFIRMED,
    pb.RESOURCE_STATE_PUBLISHED,
    pb.RESOURCE_STATE_WITHDRAWN,
)


def state_name(state: int) -> str:
    return pb.ResourceState.Name(state).removeprefix("RESOURCE_STATE_").lower()  # type: ignore[arg-type]


# --- validation --------------------------------------------------------------------------------


class _Rules:
    """Collects violations; `broken(field, rule, description)` adds one."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def broken(self, field: str, rule: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description, rule))

    def text(self, field: str, value: str, *, limit: int, required: bool) -> None:
        if required and not value.strip():
            self.broken(field, "required", "is required")
        elif len(value) > limit:
            self.broken(field, "max-length", f"is longer than {limit} characters")

    def enum(self, field: str, value: int, enum: Iterable[int]) -> None:
        if value == 0:
            self.broken(field, "required", "is required")
        elif value not in enum:
            self.broken(field, "known-value", f"has no value {value}")

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)


def validate_resource(resource: pb.Resource) -> None:
    """Raise InvalidArgument listing every rule the resource's content breaks."""
    r = _Rules()
    r.text("name", resource.name, limit=MAX_NAME, required=True)
    r.text("summary", resource.summary, limit=MAX_SUMMARY, required=True)
    if not DEPARTMENT_PATTERN.fullmatch(resource.provider_department):
        r.broken("provider_department", "department-code", "must be a department code, e.g. 'psb'")
    _provider_code(r, resource.provider_code)
    _classification(r, resource.classification)
    if not resource.format:
        r.broken("format", "required", "is required")
    elif resource.format not in FORMATS:
        r.broken("format", "known-value", "must be one of " + ", ".join(sorted(FORMATS)))
    r.enum("share_type", resource.share_type, pb.ShareType.values())
    r.enum("open_type", resource.open_type, pb.OpenType.values())
    r.enum("update_cycle", resource.update_cycle, pb.UpdateCycle.values())
    r.enum("data_grade", resource.data_grade, pb.DataGrade.values())
    r.text("share_conditions", resource.share_conditions, limit=MAX_CONDITIONS, required=False)
    r.text("share_basis", resource.share_basis, limit=MAX_CONDITIONS, required=False)
    r.text("open_conditions", resource.open_conditions, limit=MAX_CONDITIONS, required=False)
    has_personal = _data_items(r, resource)
    _sharing(r, resource, has_personal=has_personal)
    _opening(r, resource, has_personal=has_personal)
    _lists(r, resource)
    r.raise_if_any()


def _provider_code(r: _Rules, code: str) -> None:
    if not code:
        r.broken("provider_code", "required", "is required (the department's credit code)")
        return
    try:
        canonical = identifiers.parse_credit_code(code).code
    except identifiers.IdentifierError as exc:
        r.broken("provider_code", "credit-code", f"is not a unified social credit code: {exc}")
        return
    if canonical != code:
        # stored, exported and compared as written: one spelling only
        r.broken("provider_code", "credit-code", "must be written in capitals without spaces")


def _classification(r: _Rules, c: pb.Classification) -> None:
    if c.category not in CATEGORIES:
        r.broken(
            "classification.category",
            "classification",
            "must be 1 (basic), 2 (theme) or 3 (department)",
        )
    if not re.fullmatch(r"[0-9]{2}", c.item):
        r.broken("classification.item", "classification", "must be two digits, e.g. '01'")
    if not re.fullmatch(r"[0-9]{3}", c.sub_item):
        r.broken("classification.sub_item", "classification", "must be three digits, e.g. '001'")


def _data_items(r: _Rules, resource: pb.Resource) -> bool:
    """Check each data item; True when any holds personal data."""
    if not resource.data_items:
        r.broken("data_items", "required", "needs at least one data item")
    elif len(resource.data_items) > MAX_ITEMS:
        r.broken("data_items", "max-items", f"has more than {MAX_ITEMS} items")
    names: set[str] = set()
    has_personal = False
    for i, item in enumerate(resource.data_items[:MAX_ITEMS]):
        at = f"data_items[{i}]"
        r.text(f"{at}.name", item.name, limit=MAX_ITEM_NAME, required=True)
        if item.name in names:
            r.broken(f"{at}.name", "unique-item-name", "repeats another data item's name")
        names.add(item.name)
        if item.type not in ITEM_TYPES:
            r.broken(f"{at}.type", "known-value", "must be one of " + ", ".join(sorted(ITEM_TYPES)))
        r.text(f"{at}.description", item.description, limit=MAX_ITEM_DESCRIPTION, required=False)
        if item.grade and item.grade not in pb.DataGrade.values():
            r.broken(f"{at}.grade", "known-value", f"has no value {item.grade}")
        elif item.grade > resource.data_grade > 0:
            r.broken(
                f"{at}.grade",
                "item-grade-within-resource-grade",
                "cannot exceed the resource's data_grade",
            )
        has_personal = has_personal or item.personal
    return has_personal


def _protected(resource: pb.Resource, *, has_personal: bool) -> bool:
    """Personal or sensitive data (Art. 38): never shared or opened without conditions."""
    return has_personal or resource.data_grade >= pb.DATA_GRADE_SENSITIVE


def _sharing(r: _Rules, resource: pb.Resource, *, has_personal: bool) -> None:
    kind = resource.share_type
    if kind == pb.SHARE_TYPE_UNCONDITIONAL and _protected(resource, has_personal=has_personal):
        r.broken(
            "share_type",
            "protected-data-not-unconditional",
            "a resource with personal or sensitive data cannot be shared unconditionally",
        )
    if kind == pb.SHARE_TYPE_CONDITIONAL and not resource.share_conditions.strip():
        r.broken("share_conditions", "conditions-stated", "a conditional share must state them")
    if kind == pb.SHARE_TYPE_NOT_SHARED:
        if not resource.share_basis.strip():
            r.broken(
                "share_basis",
                "not-shared-cites-legal-basis",
                "a resource that is not shared must cite its legal basis",
            )
        if resource.share_methods:
            r.broken("share_methods", "no-method-when-not-shared", "must be empty when not shared")
    elif kind and not resource.share_methods:
        r.broken("share_methods", "share-method", "a shared resource needs at least one method")
    for i, method in enumerate(resource.share_methods):
        if method not in pb.ShareMethod.values() or method == 0:
            r.broken(f"share_methods[{i}]", "known-value", f"has no value {method}")
    if len(set(resource.share_methods)) != len(resource.share_methods):
        r.broken("share_methods", "unique", "repeats a method")


def _opening(r: _Rules, resource: pb.Resource, *, has_personal: bool) -> None:
    kind = resource.open_type
    if kind == pb.OPEN_TYPE_OPEN and _protected(resource, has_personal=has_personal):
        r.broken(
            "open_type",
            "protected-data-not-open",
            "a resource with personal or sensitive data cannot be open without conditions",
        )
    if kind in (pb.OPEN_TYPE_OPEN, pb.OPEN_TYPE_CONDITIONAL):
        if resource.data_grade >= pb.DATA_GRADE_IMPORTANT:
            r.broken("open_type", "important-data-not-open", "important or core data is never open")
        if resource.share_type == pb.SHARE_TYPE_NOT_SHARED:
            r.broken(
                "open_type",
                "not-shared-not-open",
                "a resource not shared between departments cannot be opened to the public",
            )
    if kind == pb.OPEN_TYPE_CONDITIONAL and not resource.open_conditions.strip():
        r.broken("open_conditions", "conditions-stated", "a conditional opening must state them")


def _lists(r: _Rules, resource: pb.Resource) -> None:
    if len(resource.related_codes) > MAX_RELATED:
        r.broken("related_codes", "max-items", f"has more than {MAX_RELATED} codes")
    for i, code in enumerate(resource.related_codes[:MAX_RELATED]):
        if not CODE_PATTERN.fullmatch(code):
            r.broken(f"related_codes[{i}]", "resource-code", "must be a code like '301001/000001'")
    if len(resource.keywords) > MAX_KEYWORDS:
        r.broken("keywords", "max-items", f"has more than {MAX_KEYWORDS} keywords")
    for i, word in enumerate(resource.keywords[:MAX_KEYWORDS]):
        r.text(f"keywords[{i}]", word, limit=MAX_KEYWORD, required=True)


OUTPUT_ONLY_FIELDS = tuple(
    f.name for f in pb.Resource.DESCRIPTOR.fields if f.name not in EDITABLE_FIELDS
)


def content_of(resource: pb.Resource) -> pb.Resource:
    """Only the editable content: what a version stores and a diff compares."""
    out = pb.Resource()
    out.CopyFrom(resource)
    for name in OUTPUT_ONLY_FIELDS:
        out.ClearField(name)  # type: ignore[arg-type]
    return out


def classification_code(c: pb.Classification) -> str:
    return f"{c.category}{c.item}{c.sub_item}"


def resource_code(c: pb.Classification, sequence: int) -> str:
    """资源代码: the classification code, '/', and a six-digit sequence within it."""
    return f"{classification_code(c)}/{sequence:06d}"


def completeness(resource: pb.Resource) -> float:
    """Share of the recommended metadata filled in, 0 to 1: keywords, related resources, a
    summary of some substance, and a description for every data item."""
    items = resource.data_items
    described = sum(1 for i in items if i.description.strip()) / len(items) if items else 0.0
    parts = (
        1.0 if resource.keywords else 0.0,
        1.0 if resource.related_codes else 0.0,
        1.0 if len(resource.summary.strip()) >= 30 else 0.0,
        described,
    )
    return sum(parts) / len(parts)


# --- lifecycle ---------------------------------------------------------------------------------

# action -> (the states it starts from, the state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[int], int]] = {
    "submit": (frozenset({DRAFT, RETURNED}), SUBMITTED),
    "return": (frozenset({SUBMITTED}), RETURNED),
    "confirm": (frozenset({SUBMITTED}), CONFIRMED),
    "publish": (frozenset({CONFIRMED, PUBLISHED}), PUBLISHED),
    "withdraw": (frozenset({CONFIRMED, PUBLISHED}), WITHDRAWN),
}
# Editing these changes the working copy in place; editing a confirmed or published resource
# starts a revision (the next version, as a draft) and leaves the listed version in the catalogs.
EDITABLE_IN_PLACE = frozenset({DRAFT, RETURNED})
REVISABLE = frozenset({CONFIRMED, PUBLISHED})


def next_state(action: str, current: int, *, listed: bool = False) -> int:
    """The state `action` leads to from `current`, or FailedPrecondition naming both. A resource
    `listed` in a catalog while a revision is under way can still be withdrawn."""
    sources, target = TRANSITIONS[action]
    if action == "withdraw" and listed:
        sources = sources | EDITABLE_IN_PLACE | {SUBMITTED}
    if current not in sources:
        allowed = " or ".join(sorted(state_name(s) for s in sources))
        raise FailedPrecondition(
            f"cannot {action} a resource that is {state_name(current)}; it must be {allowed}"
        )
    return target


def check_editable(current: int) -> None:
    if current not in EDITABLE_IN_PLACE | REVISABLE:
        raise FailedPrecondition(
            f"a resource that is {state_name(current)} cannot be edited; "
            "edit a draft, a returned, a confirmed or a published resource"
        )


# Where a publication lists a resource when the request does not say: always in the share
# catalog, and in the open catalog when its open type allows it.
OPENABLE = frozenset({pb.OPEN_TYPE_OPEN, pb.OPEN_TYPE_CONDITIONAL})


def publication(
    resource: pb.Resource, *, share: bool | None, open_: bool | None
) -> tuple[bool, bool]:
    """(share catalog, open catalog) for a publication: as asked, each flag not sent taking its
    default (share: yes; open: when the open type allows), checked by `check_publication`."""
    listed = (
        True if share is None else share,
        resource.open_type in OPENABLE if open_ is None else open_,
    )
    check_publication(resource, share=listed[0], open_=listed[1])
    return listed


def check_publication(resource: pb.Resource, *, share: bool, open_: bool) -> None:
    """What may be listed where: the open catalog only holds what may be opened."""
    r = _Rules()
    if not share and not open_:
        r.broken(
            "share_catalog", "a-catalog", "publish to the share catalog, the open one, or both"
        )
    if open_ and resource.open_type == pb.OPEN_TYPE_NOT_OPEN:
        r.broken("open_catalog", "open-type-allows", "a resource that is not open stays out of it")
    r.raise_if_any()


def comment(field: str, value: str, *, required: bool) -> str:
    r = _Rules()
    r.text(field, value, limit=MAX_COMMENT, required=required)
    r.raise_if_any()
    return value.strip()


# --- who may do what ---------------------------------------------------------------------------


def is_bureau(principal: Principal) -> bool:
    """Staff of the Big Data Bureau who keep the catalog."""
    return principal.department == BUREAU and (
        principal.has_role(ROLE_CATALOG_OFFICER) or principal.has_role(ROLE_BDB_ADMIN)
    )


def can_see_working_copy(principal: Principal, department: str) -> bool:
    """Drafts and reviews are the department's and the Bureau's business only."""
    return principal.department in (department, BUREAU)


def authorise_edit(principal: Principal, department: str) -> None:
    """Only the provider department's catalog officers compile its resources."""
    if not principal.has_role(ROLE_CATALOG_OFFICER):
        raise PermissionDenied("editing resources requires the catalog_officer role")
    if principal.department != department:
        raise PermissionDenied("officers edit resources of their own department only")


def authorise_review(principal: Principal) -> None:
    if not is_bureau(principal):
        raise PermissionDenied("only the Big Data Bureau's catalog officers review the catalog")


def authorise_withdraw(principal: Principal, department: str) -> None:
    if is_bureau(principal):
        return
    authorise_edit(principal, department)


# --- public demands for open data (Art. 15) ----------------------------------------------------

MAX_DEMAND_TITLE = 200
MAX_DEMAND_DESCRIPTION = 2000
DEFAULT_DUE_DAYS = 15
MAX_DUE_DAYS = 90
DAY_US = 86_400_000_000


def validate_demand(demand: pb.Demand) -> None:
    r = _Rules()
    r.text("title", demand.title, limit=MAX_DEMAND_TITLE, required=True)
    r.text("description", demand.description, limit=MAX_DEMAND_DESCRIPTION, required=True)
    if demand.suggested_department and not DEPARTMENT_PATTERN.fullmatch(
        demand.suggested_department
    ):
        r.broken("suggested_department", "department-code", "must be a department code, e.g. 'psb'")
    r.raise_if_any()


def due_days(requested: int) -> int:
    if requested == 0:
        return DEFAULT_DUE_DAYS
    if not 1 <= requested <= MAX_DUE_DAYS:
        raise InvalidArgument(
            [FieldViolation("due_days", f"must be 1 to {MAX_DUE_DAYS} days", "due-days")]
        )
    return requested


def check_route(demand: pb.Demand, department: str) -> None:
    if not DEPARTMENT_PATTERN.fullmatch(department):
        raise InvalidArgument(
            [
                FieldViolation(
                    "department", "must be a department code, e.g. 'psb'", "department-code"
                )
            ]
        )
    if demand.state == pb.DEMAND_STATE_ANSWERED:
        raise FailedPrecondition("the demand is answered already; it cannot be routed again")


def check_answer(principal: Principal, demand: pb.Demand, request: pb.AnswerDemandRequest) -> None:
    """Only the catalog officers of the department a demand is routed to answer it."""
    if demand.state != pb.DEMAND_STATE_ROUTED:
        raise FailedPrecondition("only a routed, unanswered demand can be answered")
    if not principal.has_role(ROLE_CATALOG_OFFICER) or principal.department != demand.department:
        raise PermissionDenied("only catalog officers of the department it is routed to answer it")
    r = _Rules()
    r.enum("outcome", request.outcome, pb.DemandOutcome.values())
    r.text("answer", request.answer, limit=MAX_COMMENT, required=True)
    if request.outcome == pb.DEMAND_OUTCOME_OPENED and not request.resource_id:
        r.broken("resource_id", "opened-names-resource", "name the resource now open")
    r.raise_if_any()


def demand_overdue(*, state: int, due_us: int | None, answer_us: int | None, now: int) -> bool:
    """Routed and past its deadline, or answered after it."""
    if due_us is None:
        return False
    if state == pb.DEMAND_STATE_ROUTED:
        return now > due_us
    return answer_us is not None and answer_us > due_us


# --- evaluation of providers (Art. 15) ---------------------------------------------------------

# How long data may go without a refresh before it counts as stale, per update cycle.
FRESH_FOR_US = {
    pb.UPDATE_CYCLE_REAL_TIME: 1 * DAY_US,
    pb.UPDATE_CYCLE_DAILY: 2 * DAY_US,
    pb.UPDATE_CYCLE_WEEKLY: 8 * DAY_US,
    pb.UPDATE_CYCLE_MONTHLY: 32 * DAY_US,
    pb.UPDATE_CYCLE_QUARTERLY: 93 * DAY_US,
    pb.UPDATE_CYCLE_YEARLY: 367 * DAY_US,
    pb.UPDATE_CYCLE_IRREGULAR: 367 * DAY_US,
}
# The score's parts weigh the same: compiling, keeping fresh, answering consumers and the public.
WEIGHTS = {"completeness": 0.25, "freshness": 0.25, "sharing": 0.25, "demands": 0.25}


def is_fresh(cycle: int, last_refresh_us: int, *, now: int) -> bool:
    return now - last_refresh_us <= FRESH_FOR_US.get(cycle, 367 * DAY_US)  # type: ignore[call-overload, no-any-return]


def score(*, completeness: float, freshness: float, sharing: float, demands: float) -> float:
    """0 to 100; each part is 0 to 1 (1 when there was nothing to do)."""
    parts = {
        "completeness": completeness,
        "freshness": freshness,
        "sharing": sharing,
        "demands": demands,
    }
    return round(100 * sum(WEIGHTS[k] * v for k, v in parts.items()), 1)


def rank(cards: list[pb.Scorecard]) -> list[pb.Scorecard]:
    """Best first: by score, then by resources published, then by department code."""
    ordered = sorted(cards, key=lambda c: (-c.score, -c.resources_published, c.department))
    for position, card in enumerate(ordered, start=1):
        card.rank = position
    return ordered
