"""Exchange rules: what a push, a share request, a decision, an interface and a query must be,
who may do each, what a consumer sees of a grant, and what the evidence keeps.

Every rejection names the field and the rule it breaks and never repeats a pushed value.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import hashes
from gmssl import func, sm3
from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.auth import PARTNER, STAFF, Principal
from runtime.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    abort,
    field_violations,
    status_from_error,
)
from services.exchange import domain
from smartcity.catalog.v1 import catalog_pb2
from smartcity.exchange.v1 import exchange_pb2

# --- a resource of every item type; each test breaks one thing --------------------------------

TYPES = {
    "注册号": "string",
    "从业人数": "integer",
    "注册资本": "decimal",
    "存续": "boolean",
    "注册日期": "date",
    "更新时间": "datetime",
    "营业执照": "binary",
}
NAME_OF = {kind: name for name, kind in TYPES.items()}
ITEMS = [catalog_pb2.DataItem(name=name, type=kind) for name, kind in TYPES.items()]
VALID = {
    "注册号": "460100000012345",
    "从业人数": "42",
    "注册资本": "1000000.50",
    "存续": "true",
    "注册日期": "2026-01-31",
    "更新时间": "2026-01-31T08:00:00Z",
    "营业执照": "aGVsbG8=",
}


def entry(**overrides: Any) -> catalog_pb2.Resource:
    """Conditionally shared by the market supervision administration."""
    values: dict[str, Any] = {
        "id": "res-1",
        "provider_department": "msa",
        "share_type": catalog_pb2.SHARE_TYPE_CONDITIONAL,
        "share_basis": "",
        "data_items": ITEMS,
    }
    values.update(overrides)
    return catalog_pb2.Resource(**values)


def who(department: str, *roles: str, kind: str = STAFF, client: str = "") -> Principal:
    return Principal(
        subject="someone",
        audience="office",
        kind=kind,
        department=department,
        roles=frozenset(roles),
        client=client,
    )


def records(*rows: dict[str, str]) -> list[exchange_pb2.Record]:
    return [exchange_pb2.Record(fields=row) for row in rows]


def push_violations(batch: list[exchange_pb2.Record], items: Any = ITEMS) -> list[Any]:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_records(batch, items)
    return caught.value.violations


def push_broken(batch: list[exchange_pb2.Record], items: Any = ITEMS) -> list[tuple[str, str]]:
    """The (field, rule) of every violation, in the order reported."""
    return [(v.field, v.rule) for v in push_violations(batch, items)]


def normalised(kind: str, value: str) -> str:
    (row,) = domain.validate_records(records({NAME_OF[kind]: value}), ITEMS)
    return row[NAME_OF[kind]]


def invalid(call: Any, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        call(*args, **kwargs)
    return [(v.field, v.rule) for v in caught.value.violations]


# --- pushing records ---------------------------------------------------------------------------


def test_a_valid_batch_comes_back_as_rows_in_the_data_items_order() -> None:
    # given two records, the second giving two fields in another order
    batch = records(VALID, {"注册日期": "2026-02-01", "注册号": "x"})
    # when validated
    rows = domain.validate_records(batch, ITEMS)
    # then each row holds what its record gave, in the catalog's order; absent fields stay absent
    assert rows[0] == VALID
    assert list(rows[0]) == list(TYPES)
    assert rows[1] == {"注册号": "x", "注册日期": "2026-02-01"}
    assert list(rows[1]) == ["注册号", "注册日期"]


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        ("string", "  任意 text, kept as written ", "  任意 text, kept as written "),
        ("string", "", ""),
        ("integer", "42", "42"),
        ("integer", "+042", "42"),
        ("integer", "-0", "0"),
        ("integer", "-17", "-17"),
        ("integer", "9" * 2000, "9" * 2000),
        ("decimal", "3.140", "3.140"),
        ("decimal", "+3.14", "3.14"),
        ("decimal", "-2.5", "-2.5"),
        ("decimal", ".5", "0.5"),
        ("decimal", "7.", "7"),
        ("decimal", "0.0000001", "0.0000001"),
        ("decimal", "-0.00", "0.00"),
        ("decimal", "42", "42"),
        ("boolean", "true", "true"),
        ("boolean", "false", "false"),
        ("boolean", "1", "true"),
        ("boolean", "0", "false"),
        ("date", "2026-01-31", "2026-01-31"),
        ("date", "2024-02-29", "2024-02-29"),
        ("datetime", "2026-01-31T08:00:00+08:00", "2026-01-31T00:00:00Z"),
        ("datetime", "2026-01-31T08:00:00Z", "2026-01-31T08:00:00Z"),
        ("datetime", "2026-01-31t08:00:00.5z", "2026-01-31T08:00:00.500000Z"),
        ("datetime", "2026-01-31T08:00:00.123456-05:30", "2026-01-31T13:30:00.123456Z"),
        ("datetime", "2026-01-01T01:00:00+02:00", "2025-12-31T23:00:00Z"),
        ("datetime", "2026-01-31T08:00:00-00:00", "2026-01-31T08:00:00Z"),
        ("binary", "aGVsbG8=", "aGVsbG8="),
        ("binary", "", ""),
    ],
)
def test_each_value_is_stored_in_one_spelling_of_its_type(
    kind: str, given: str, stored: str
) -> None:
    assert normalised(kind, given) == stored


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("string", "nul\x00inside"),
        ("integer", ""),
        ("integer", "4.2"),
        ("integer", "1e5"),
        ("integer", "1_000"),
        ("integer", " 42"),
        ("integer", "42\n"),
        ("integer", "٤٢"),  # Arabic-Indic digits: int() takes them, a database would not
        ("integer", "+"),
        ("decimal", ""),
        ("decimal", "NaN"),
        ("decimal", "Infinity"),
        ("decimal", "-inf"),
        ("decimal", "1e5"),
        ("decimal", "1E-7"),
        ("decimal", "1,5"),
        ("decimal", "."),
        ("decimal", "0x10"),
        ("boolean", ""),
        ("boolean", "TRUE"),
        ("boolean", "yes"),
        ("boolean", "2"),
        ("date", ""),
        ("date", "20260131"),
        ("date", "2026-W05-1"),
        ("date", "2026-02-30"),
        ("date", "2026-1-31"),
        ("date", "0000-01-01"),
        ("date", "2026-01-31T00:00:00Z"),
        ("datetime", "2026-01-31T08:00:00"),  # naive: which 8 o'clock?
        ("datetime", "2026-01-31 08:00:00Z"),
        ("datetime", "2026-01-31T08:00Z"),
        ("datetime", "2026-01-31T08:00:00+0800"),
        ("datetime", "2026-01-31T08:00:00+24:00"),
        ("datetime", "2026-01-31T08:00:00+08:60"),
        ("datetime", "2026-01-31T08:00:00.1234567Z"),
        ("datetime", "2026-01-31T23:59:60Z"),
        ("datetime", "2026-02-30T08:00:00Z"),
        ("datetime", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC
        ("datetime", "9999-12-31T23:59:59-01:00"),  # after year 9999 in UTC
        ("binary", "aGVsbG8"),
        ("binary", "aGVs bG8="),
        ("binary", "aGVsbG8=\n"),
        ("binary", "QR=="),  # decodes like "QQ==", but not what encoding gives
        ("binary", "照片"),
    ],
)
def test_a_value_not_of_its_items_type_is_refused_naming_the_form_not_the_value(
    kind: str, value: str
) -> None:
    # given a record whose value is not of its item's type
    name = NAME_OF[kind]
    # when pushed
    (violation,) = push_violations(records({name: value}))
    # then the violation names the field, the rule and the expected form only
    assert (violation.field, violation.rule) == (f"records[0].fields[{name}]", "item-type")
    assert violation.description == domain.EXPECTED[kind]


def test_a_personal_value_is_never_repeated_in_the_rejection() -> None:
    # given a resident identity number pushed where a date belongs
    secret = "460100199001011234"
    # when refused
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_records(records({"注册日期": secret}), ITEMS)
    # then neither the message nor any violation holds it
    assert secret not in str(caught.value)
    assert all(secret not in f"{v.field} {v.description} {v.rule}" for v in caught.value.violations)


def test_an_empty_batch_is_refused() -> None:
    assert push_broken([]) == [("records", "required")]


def test_a_batch_of_max_batch_records_passes_and_one_more_is_refused() -> None:
    assert len(domain.validate_records(records(*[VALID] * domain.MAX_BATCH), ITEMS)) == 1000
    assert push_broken(records(*[VALID] * (domain.MAX_BATCH + 1))) == [("records", "max-items")]


def test_a_record_without_fields_is_refused() -> None:
    assert push_broken(records(VALID, {})) == [("records[1]", "required")]


def test_a_field_that_is_no_data_item_is_refused() -> None:
    assert push_broken(records({**VALID, "身份证号": "x"})) == [
        ("records[0].fields[身份证号]", "known-field")
    ]


def test_an_unknown_field_name_is_cut_short_in_the_field_path() -> None:
    (violation,) = push_violations(records({"x" * 10_000: "v"}))
    assert violation.field == f"records[0].fields[{'x' * domain.MAX_ECHOED_KEY}…]"


def test_a_value_of_max_value_characters_passes_and_one_more_is_refused() -> None:
    assert domain.validate_records(records({"注册号": "字" * domain.MAX_VALUE}), ITEMS)
    assert push_broken(records({"注册号": "字" * (domain.MAX_VALUE + 1)})) == [
        ("records[0].fields[注册号]", "max-length")
    ]


def test_an_item_of_a_type_the_exchange_does_not_know_refuses_its_values() -> None:
    items = [catalog_pb2.DataItem(name="位置", type="geometry")]
    assert push_broken(records({"位置": "POINT(110 20)"}), items) == [
        ("records[0].fields[位置]", "item-type")
    ]


def test_a_batch_is_all_or_nothing_and_every_problem_is_listed() -> None:
    # given a batch with good records and three problems in two records
    batch = records(VALID, {**VALID, "从业人数": "many", "存续": "maybe"}, VALID, {"?": "x"})
    # when pushed, then nothing passes and all three problems are named
    assert push_broken(batch) == [
        ("records[1].fields[从业人数]", "item-type"),
        ("records[1].fields[存续]", "item-type"),
        ("records[3].fields[?]", "known-field"),
    ]


def test_listing_stops_after_max_violations_and_says_so() -> None:
    # given a batch with more empty records than problems are listed
    batch = records(VALID, *[{}] * (domain.MAX_VIOLATIONS + 10))
    # when pushed
    found = push_broken(batch)
    # then the first MAX_VIOLATIONS are listed, and a last violation says there are more
    assert len(found) == domain.MAX_VIOLATIONS + 1
    assert found[:2] == [("records[1]", "required"), ("records[2]", "required")]
    assert found[-1] == ("records", "too-many-errors")


def test_exactly_max_violations_problems_are_all_listed_without_a_note() -> None:
    found = push_broken(records(*[{}] * domain.MAX_VIOLATIONS))
    assert len(found) == domain.MAX_VIOLATIONS
    assert ("records", "too-many-errors") not in found


def worst_batch() -> tuple[list[exchange_pb2.Record], list[catalog_pb2.DataItem]]:
    """Names as long as the catalog allows, in four-byte characters, percent-encoded nine bytes
    a character; every value wrong; and unknown names as long as a message may carry."""
    items = [catalog_pb2.DataItem(name=f"{i:03d}" + "𠮷" * 97, type="datetime") for i in range(500)]
    row = {item.name: "not a time" for item in items} | {"𠮷" * 5000: "x"}
    return records(*[row] * domain.MAX_BATCH), items


def test_the_listing_also_stops_before_the_rejection_outgrows_grpc_trailers() -> None:
    batch, items = worst_batch()
    found = push_broken(batch, items)
    assert 1 < len(found) < domain.MAX_VIOLATIONS
    assert found[-1] == ("records", "too-many-errors")


async def test_the_worst_rejection_reaches_a_grpc_client_whole() -> None:
    # given a server that refuses the worst batch there can be, as a servicer would
    batch, items = worst_batch()

    async def push(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            domain.validate_records(batch, items)
        except InvalidArgument as error:
            await abort(context, error)
        return b""

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "t.T", {"Push": grpc.unary_unary_rpc_method_handler(push)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        # when a client calls it with gRPC's default limits
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary("/t.T/Push")(b"")
    finally:
        await server.stop(None)
    # then it gets INVALID_ARGUMENT with every listed violation, not a dropped stream
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    received = field_violations(status_from_error(caught.value))
    assert [(v.field, v.rule) for v in received] == push_broken(batch, items)


# --- properties of the push rules ---------------------------------------------------------------


@given(st.integers())
def test_any_integer_round_trips(n: int) -> None:
    assert normalised("integer", str(n)) == str(n)
    assert normalised("integer", f"+{n:08d}" if n >= 0 else f"{n:08d}") == str(n)


@given(st.dates())
def test_any_date_round_trips(d: date) -> None:
    assert normalised("date", d.isoformat()) == d.isoformat()


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_finite_decimal_round_trips(d: Decimal) -> None:
    text = format(d, "f")
    assume(len(text) <= domain.MAX_VALUE)
    stored = normalised("decimal", text)
    assert Decimal(stored) == d
    assert stored == (text.removeprefix("-") if d.is_zero() else text)  # no negative zero


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
def test_any_datetime_with_an_offset_is_stored_as_the_same_instant_in_utc(
    moment: datetime, offset_minutes: int
) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    stored = normalised("datetime", aware.isoformat())
    assert stored.endswith("Z")
    assert datetime.fromisoformat(stored) == aware
    assert datetime.fromisoformat(stored).utcoffset() == timedelta(0)


@given(st.binary(max_size=1000))
def test_any_bytes_in_base64_are_kept_as_written(content: bytes) -> None:
    text = base64.b64encode(content).decode()
    assert normalised("binary", text) == text


@given(st.sampled_from(sorted(TYPES.values())), st.text(max_size=50))
def test_garbage_is_either_stored_in_one_spelling_or_refused_without_repeating_it(
    kind: str, value: str
) -> None:
    # given anything at all pushed as a value of a type
    try:
        stored = normalised(kind, value)
    except InvalidArgument as error:
        # then a refusal says only what the form must be: nothing in it depends on the value
        assert [v.description for v in error.violations] == [domain.EXPECTED[kind]]
        return
    # or what is stored is stored as itself when pushed again
    assert normalised(kind, stored) == stored


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=10))
def test_any_record_is_rows_or_invalid_argument(fields: dict[str, str]) -> None:
    with contextlib.suppress(InvalidArgument):
        domain.validate_records(records(fields), ITEMS)


# --- share requests ----------------------------------------------------------------------------


def share_request(**overrides: Any) -> exchange_pb2.ShareRequest:
    values: dict[str, Any] = {
        "resource_id": "res-1",
        "consumer": "department:psb",
        "provider_department": "msa",
        "purpose": "核查企业登记 Checking registrations",
        "legal_basis": "《海南自由贸易港数据条例》",
        "fields": ["注册号", "注册日期"],
        "duration_days": 30,
        "state": exchange_pb2.SHARE_REQUEST_STATE_PENDING,
    }
    values.update(overrides)
    return exchange_pb2.ShareRequest(**values)


def share_broken(**overrides: Any) -> list[tuple[str, str]]:
    return invalid(domain.validate_share_request, share_request(**overrides), entry())


def test_a_complete_share_request_passes() -> None:
    domain.validate_share_request(share_request(), entry())


@pytest.mark.parametrize("field", ["purpose", "legal_basis"])
def test_a_share_request_states_its_purpose_and_legal_basis(field: str) -> None:
    assert share_broken(**{field: ""}) == [(field, "required")]
    assert share_broken(**{field: " \n "}) == [(field, "required")]
    domain.validate_share_request(share_request(**{field: "字" * domain.MAX_TEXT}), entry())
    assert share_broken(**{field: "字" * (domain.MAX_TEXT + 1)}) == [(field, "max-length")]


def test_a_share_request_asks_for_some_fields_each_once_each_a_data_item() -> None:
    assert share_broken(fields=[]) == [("fields", "required")]
    assert share_broken(fields=["注册号", "注册号"]) == [("fields[1]", "unique")]
    assert share_broken(fields=["注册号", "身份证号"]) == [("fields[1]", "known-field")]


@pytest.mark.parametrize(
    ("days", "ok"), [(0, False), (1, True), (365, True), (366, False), (-1, False)]
)
def test_a_share_request_lasts_one_day_to_a_year(days: int, ok: bool) -> None:
    if ok:
        domain.validate_share_request(share_request(duration_days=days), entry())
    else:
        assert share_broken(duration_days=days) == [("duration_days", "duration")]


def test_every_problem_of_a_share_request_is_listed_at_once() -> None:
    assert share_broken(purpose="", legal_basis="", fields=[], duration_days=0) == [
        ("purpose", "required"),
        ("legal_basis", "required"),
        ("fields", "required"),
        ("duration_days", "duration"),
    ]


@pytest.mark.parametrize(
    ("share_type", "state", "reason"),
    [
        (catalog_pb2.SHARE_TYPE_UNCONDITIONAL, domain.GRANTED, "shared unconditionally"),
        (
            catalog_pb2.SHARE_TYPE_NOT_SHARED,
            domain.REFUSED,
            "not shared; legal basis: 《个人信息保护法》第十三条",
        ),
        (catalog_pb2.SHARE_TYPE_CONDITIONAL, domain.PENDING, ""),
        (
            catalog_pb2.SHARE_TYPE_UNSPECIFIED,
            domain.REFUSED,
            "the catalog does not say whether it is shared",
        ),
    ],
)
def test_the_catalogs_share_type_decides_a_request_at_once_unless_conditional(
    share_type: int, state: int, reason: str
) -> None:
    resource = entry(share_type=share_type, share_basis="《个人信息保护法》第十三条")
    assert domain.automatic_decision(resource) == (state, reason)


# --- deciding ----------------------------------------------------------------------------------

APPROVER = who("msa", domain.ROLE_SHARE_APPROVER)


def decide(**fields: Any) -> exchange_pb2.DecideShareRequestRequest:
    return exchange_pb2.DecideShareRequestRequest(id="sr-1", **fields)


def test_a_grant_without_fields_or_duration_gives_what_was_asked() -> None:
    assert domain.check_decision(APPROVER, share_request(), decide(grant=True)) == (
        ["注册号", "注册日期"],
        30,
    )


def test_a_grant_may_give_fewer_fields_for_another_duration() -> None:
    assert domain.check_decision(
        APPROVER, share_request(), decide(grant=True, fields=["注册日期"], duration_days=7)
    ) == (["注册日期"], 7)


def test_a_grant_gives_nothing_that_was_not_asked_for() -> None:
    assert invalid(
        domain.check_decision,
        APPROVER,
        share_request(),
        decide(grant=True, fields=["注册日期", "从业人数", "注册日期"]),
    ) == [("fields[1]", "within-request"), ("fields[2]", "unique")]


@pytest.mark.parametrize(("days", "ok"), [(1, True), (365, True), (366, False), (-5, False)])
def test_a_grant_lasts_one_day_to_a_year(days: int, ok: bool) -> None:
    decision = decide(grant=True, duration_days=days)
    if ok:
        assert domain.check_decision(APPROVER, share_request(), decision)[1] == days
    else:
        assert invalid(domain.check_decision, APPROVER, share_request(), decision) == [
            ("duration_days", "duration")
        ]


def test_a_refusal_says_why_and_grants_nothing() -> None:
    refusal = decide(grant=False, reason="用途与职责无关", fields=["注册号"], duration_days=9)
    assert domain.check_decision(APPROVER, share_request(), refusal) == ([], 0)
    for reason, rule in (("", "required"), ("  ", "required"), ("字" * 1001, "max-length")):
        assert invalid(
            domain.check_decision, APPROVER, share_request(), decide(grant=False, reason=reason)
        ) == [("reason", rule)]


def test_a_grants_remark_is_optional_but_bounded() -> None:
    domain.check_decision(APPROVER, share_request(), decide(grant=True, reason="字" * 1000))
    assert invalid(
        domain.check_decision, APPROVER, share_request(), decide(grant=True, reason="字" * 1001)
    ) == [("reason", "max-length")]


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (exchange_pb2.SHARE_REQUEST_STATE_GRANTED, "granted"),
        (exchange_pb2.SHARE_REQUEST_STATE_REFUSED, "refused"),
    ],
)
def test_only_a_pending_request_is_decided(state: int, words: str) -> None:
    with pytest.raises(FailedPrecondition, match=f"is {words};"):
        domain.check_decision(APPROVER, share_request(state=state), decide(grant=True))


@pytest.mark.parametrize(
    ("principal", "may"),
    [
        (who("msa", domain.ROLE_SHARE_APPROVER), True),
        (who("msa", domain.ROLE_CATALOG_OFFICER), False),
        (who("msa"), False),
        (who("psb", domain.ROLE_SHARE_APPROVER), False),  # the consumer's approver
        (who("bdb", domain.ROLE_SHARE_APPROVER, domain.ROLE_BDB_ADMIN), False),
        (who("", domain.ROLE_SHARE_APPROVER), False),
    ],
)
def test_only_the_providers_share_approvers_decide(principal: Principal, may: bool) -> None:
    if may:
        domain.check_decision(principal, share_request(), decide(grant=True))
    else:
        with pytest.raises(PermissionDenied, match="only the provider's share approvers decide"):
            domain.check_decision(principal, share_request(), decide(grant=True))


def test_a_request_of_no_provider_is_decided_by_nobody() -> None:
    with pytest.raises(PermissionDenied):
        domain.check_decision(
            who("", domain.ROLE_SHARE_APPROVER),
            share_request(provider_department=""),
            decide(grant=True),
        )


@pytest.mark.parametrize(
    ("state", "due_us", "now", "overdue"),
    [
        (domain.PENDING, 100, 101, True),
        (domain.PENDING, 100, 100, False),
        (domain.PENDING, None, 10**18, False),
        (domain.GRANTED, 100, 101, False),
        (domain.REFUSED, 100, 101, False),
    ],
)
def test_a_request_is_overdue_when_still_pending_past_its_deadline(
    state: int, due_us: int | None, now: int, overdue: bool
) -> None:
    assert domain.share_request_overdue(state=state, due_us=due_us, now=now) is overdue


# --- grants ------------------------------------------------------------------------------------


def grant(**overrides: Any) -> exchange_pb2.Grant:
    values: dict[str, Any] = {
        "id": "g-1",
        "consumer": "department:psb",
        "provider_department": "msa",
        "fields": ["注册号"],
    }
    values.update(overrides)
    out = exchange_pb2.Grant(**values)
    out.expire_time.seconds = 1000
    return out


@pytest.mark.parametrize(
    ("revoked", "now_s", "active"),
    [(False, 999.5, True), (False, 1000.0, False), (False, 1001.0, False), (True, 10.0, False)],
)
def test_a_grant_is_active_until_it_expires_or_is_revoked(
    revoked: bool, now_s: float, active: bool
) -> None:
    assert domain.grant_active(grant(revoked=revoked), now_s=now_s) is active


@pytest.mark.parametrize(
    ("principal", "may"),
    [
        (who("msa", domain.ROLE_SHARE_APPROVER), True),
        (who("bdb", domain.ROLE_BDB_ADMIN), True),
        (who("bdb", domain.ROLE_CATALOG_OFFICER), True),
        (who("bdb", domain.ROLE_SHARE_APPROVER), False),
        (who("bdb"), False),
        (who("msa", domain.ROLE_CATALOG_OFFICER), False),
        (who("psb", domain.ROLE_SHARE_APPROVER), False),  # the consumer cannot end it for others
        (who("psb", domain.ROLE_BDB_ADMIN), False),
        (who("", domain.ROLE_SHARE_APPROVER), False),
    ],
)
def test_the_providers_share_approvers_or_the_bureau_revoke_a_grant(
    principal: Principal, may: bool
) -> None:
    if may:
        domain.authorise_revoke(principal, grant())
    else:
        with pytest.raises(PermissionDenied):
            domain.authorise_revoke(principal, grant())


def test_a_grant_of_no_provider_is_revoked_by_the_bureau_only() -> None:
    with pytest.raises(PermissionDenied):
        domain.authorise_revoke(who("", domain.ROLE_SHARE_APPROVER), grant(provider_department=""))
    domain.authorise_revoke(who("bdb", domain.ROLE_BDB_ADMIN), grant(provider_department=""))


# --- who sees and who does what ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("department", "sees"),
    [("psb", True), ("msa", True), ("bdb", True), ("hrss", False), ("", False)],
)
def test_a_request_is_seen_by_its_consumer_its_provider_and_the_bureau(
    department: str, sees: bool
) -> None:
    assert (
        domain.can_see(who(department), consumer="department:psb", provider_department="msa")
        is sees
    )


def test_a_partner_sees_its_own_requests_and_nothing_else() -> None:
    partner = who("", kind=PARTNER, client="app-1")
    assert domain.can_see(partner, consumer="partner:app-1", provider_department="msa")
    assert not domain.can_see(partner, consumer="partner:app-2", provider_department="msa")
    assert not domain.can_see(partner, consumer="department:psb", provider_department="msa")
    # a partner claiming a department is no department's staff
    claims_bureau = who("bdb", kind=PARTNER, client="app-3")
    assert not domain.can_see(claims_bureau, consumer="department:psb", provider_department="msa")
    assert not domain.is_bureau(claims_bureau)


OFFICER_TABLE = [
    (who("msa", domain.ROLE_CATALOG_OFFICER), True),
    (who("msa", domain.ROLE_CATALOG_OFFICER, kind="service"), True),
    (who("msa", domain.ROLE_SHARE_APPROVER), False),
    (who("msa"), False),
    (who("psb", domain.ROLE_CATALOG_OFFICER), False),
    (who("bdb", domain.ROLE_CATALOG_OFFICER, domain.ROLE_BDB_ADMIN), False),
]


@pytest.mark.parametrize(("principal", "may"), OFFICER_TABLE)
def test_only_the_providers_catalog_officers_push_records(principal: Principal, may: bool) -> None:
    if may:
        domain.authorise_push(principal, entry())
    else:
        with pytest.raises(PermissionDenied):
            domain.authorise_push(principal, entry())


@pytest.mark.parametrize(("principal", "may"), OFFICER_TABLE)
def test_only_the_providers_catalog_officers_register_interfaces(
    principal: Principal, may: bool
) -> None:
    if may:
        domain.authorise_interface(principal, entry())
    else:
        with pytest.raises(PermissionDenied):
            domain.authorise_interface(principal, entry())


def test_a_resource_of_no_provider_is_pushed_by_nobody() -> None:
    with pytest.raises(PermissionDenied):
        domain.authorise_push(who("", domain.ROLE_CATALOG_OFFICER), entry(provider_department=""))


@pytest.mark.parametrize(
    ("principal", "may"),
    [
        (who("psb"), True),
        (who("bdb", domain.ROLE_BDB_ADMIN), True),
        (who("msa"), False),  # a provider does not ask for its own data
        (who("msa", domain.ROLE_SHARE_APPROVER), False),
        (who("", kind=PARTNER, client="app-1"), True),  # partner systems ask too (Art. 14)
        (who("", kind=PARTNER), False),  # but only as a known client
        (who("psb", kind="service"), False),
        (who("", kind="citizen"), False),
        (who(""), False),
    ],
)
def test_staff_of_another_department_and_partners_ask_for_shared_data(
    principal: Principal, may: bool
) -> None:
    if may:
        domain.authorise_request(principal, entry())
    else:
        with pytest.raises(PermissionDenied):
            domain.authorise_request(principal, entry())


def test_a_provider_asking_for_its_own_data_is_told_why() -> None:
    with pytest.raises(PermissionDenied, match="a provider does not ask for its own data"):
        domain.authorise_request(who("msa"), entry())


@pytest.mark.parametrize(
    ("principal", "consumer"),
    [
        (who("psb"), "department:psb"),
        (who("", kind=PARTNER, client="app-1"), "partner:app-1"),
        (who("psb", kind=PARTNER, client="app-1"), "partner:app-1"),
    ],
)
def test_evidence_names_a_partner_by_client_and_anyone_else_by_department(
    principal: Principal, consumer: str
) -> None:
    assert domain.consumer_of(principal) == consumer


# --- interface services ------------------------------------------------------------------------


def interface(**overrides: Any) -> exchange_pb2.InterfaceService:
    values: dict[str, Any] = {
        "name": "msa.enterprise-query",
        "resource_id": "res-1",
        "description": "按注册号查询企业 Enterprises by registration number",
        "parameters": ["注册号"],
        "returned_fields": ["注册号", "注册日期", "从业人数"],
    }
    values.update(overrides)
    return exchange_pb2.InterfaceService(**values)


def interface_broken(**overrides: Any) -> list[tuple[str, str]]:
    return invalid(domain.validate_interface, interface(**overrides), entry())


def test_a_complete_interface_passes() -> None:
    domain.validate_interface(interface(), entry())
    domain.validate_interface(interface(parameters=[]), entry())


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        ("", [("name", "required")]),
        ("msa.ab", []),
        ("msa." + "a" * 63, []),
        ("msa." + "a" * 64, [("name", "interface-name")]),
        ("msa.a", [("name", "interface-name")]),
        ("msa.Query", [("name", "interface-name")]),
        ("msa.query\n", [("name", "interface-name")]),
        ("msa.-query", [("name", "interface-name")]),
        ("msa_query", [("name", "interface-name"), ("name", "provider-prefix")]),
        ("psb.query", [("name", "provider-prefix")]),
        ("msax.query", [("name", "provider-prefix")]),
    ],
)
def test_an_interface_is_named_department_dot_name_by_its_provider(
    name: str, broken: list[tuple[str, str]]
) -> None:
    if broken:
        assert interface_broken(name=name) == broken
    else:
        domain.validate_interface(interface(name=name), entry())


def test_an_interface_says_what_it_answers() -> None:
    assert interface_broken(description=" ") == [("description", "required")]
    domain.validate_interface(interface(description="字" * domain.MAX_TEXT), entry())
    assert interface_broken(description="字" * (domain.MAX_TEXT + 1)) == [
        ("description", "max-length")
    ]


def test_an_interfaces_parameters_are_few_distinct_data_items() -> None:
    five = ["注册号", "从业人数", "注册资本", "存续", "注册日期"]
    domain.validate_interface(interface(parameters=five), entry())
    assert interface_broken(parameters=[*five, "更新时间"]) == [("parameters", "max-items")]
    assert interface_broken(parameters=["注册号", "注册号"]) == [("parameters[1]", "unique")]
    assert interface_broken(parameters=["身份证号"]) == [("parameters[0]", "known-field")]


def test_an_interface_returns_at_least_one_distinct_data_item() -> None:
    assert interface_broken(returned_fields=[]) == [("returned_fields", "required")]
    assert interface_broken(returned_fields=["存续", "存续"]) == [("returned_fields[1]", "unique")]
    assert interface_broken(returned_fields=["存续", "?"]) == [
        ("returned_fields[1]", "known-field")
    ]


def test_a_flood_of_unknown_names_is_listed_up_to_the_cap() -> None:
    found = interface_broken(returned_fields=[str(i) for i in range(10_000)])
    assert len(found) == domain.MAX_VIOLATIONS + 1
    assert found[-1] == ("returned_fields", "too-many-errors")


# --- queries -----------------------------------------------------------------------------------

GRANTED_FIELDS = frozenset({"注册号", "注册日期"})


def query(**overrides: Any) -> exchange_pb2.QueryInterfaceServiceRequest:
    values: dict[str, Any] = {
        "name": "msa.enterprise-query",
        "parameters": {"注册号": "460100000012345"},
        "purpose": "核查 Checking one registration",
        "authorisation_code": "code",
    }
    values.update(overrides)
    return exchange_pb2.QueryInterfaceServiceRequest(**values)


def query_broken(**overrides: Any) -> list[tuple[str, str]]:
    return invalid(domain.check_query, query(**overrides), interface(), granted=GRANTED_FIELDS)


@pytest.mark.parametrize(("limit", "effective"), [(0, 20), (1, 1), (100, 100)])
def test_a_query_returns_at_most_its_limit(limit: int, effective: int) -> None:
    assert domain.check_query(query(limit=limit), interface(), granted=GRANTED_FIELDS) == effective


@pytest.mark.parametrize("limit", [-1, 101])
def test_a_query_limit_is_zero_to_a_hundred(limit: int) -> None:
    assert query_broken(limit=limit) == [("limit", "range")]


def test_a_query_states_its_purpose_briefly() -> None:
    assert query_broken(purpose="") == [("purpose", "required")]
    domain.check_query(query(purpose="字" * 200), interface(), granted=GRANTED_FIELDS)
    assert query_broken(purpose="字" * 201) == [("purpose", "max-length")]


def test_a_query_filters_on_the_interfaces_parameters_only() -> None:
    domain.check_query(query(parameters={}), interface(), granted=GRANTED_FIELDS)
    assert query_broken(parameters={"注册号": "1", "注册日期": "2026-01-31"}) == [
        ("parameters[注册日期]", "interface-parameter")
    ]
    assert query_broken(parameters={"注册号": "字" * 2001}) == [
        ("parameters[注册号]", "max-length")
    ]


def test_a_query_filtering_on_a_field_outside_the_grant_is_denied() -> None:
    # given a grant without the field the interface filters on
    with pytest.raises(PermissionDenied, match="parameter 注册号 is outside your grant"):
        domain.check_query(query(), interface(), granted={"注册日期"})


def test_an_invalid_query_is_invalid_before_it_is_denied() -> None:
    with pytest.raises(InvalidArgument):
        domain.check_query(query(limit=101), interface(), granted=set())


# --- masking -----------------------------------------------------------------------------------


def test_fields_outside_the_grant_are_masked_and_named() -> None:
    # given rows with a field outside the grant, and one row missing a granted field
    rows = [
        {"注册号": "1", "注册日期": "2026-01-31", "从业人数": "42", "其他": "x"},
        {"从业人数": "7"},
    ]
    # when masked for a grant of two fields
    out, masked = domain.mask(
        rows, returned=["注册号", "注册日期", "从业人数"], granted=GRANTED_FIELDS
    )
    # then only the returned fields come back, masked outside the grant, empty where missing
    assert out == [
        {"注册号": "1", "注册日期": "2026-01-31", "从业人数": "***"},
        {"注册号": "", "注册日期": "", "从业人数": "***"},
    ]
    assert masked == ["从业人数"]


names = st.sampled_from(list(TYPES))


@given(
    st.lists(names, unique=True, min_size=1),
    st.frozensets(names),
    st.lists(st.dictionaries(names, st.text(alphabet="abc*", max_size=10)), max_size=5),
)
def test_a_masked_fields_value_never_leaves(
    returned: list[str], granted: frozenset[str], rows: list[dict[str, str]]
) -> None:
    # given rows whose values outside the grant are secrets
    rows = [{k: v if k in granted else f"SECRET{v}" for k, v in row.items()} for row in rows]
    # when masked
    out, masked = domain.mask(rows, returned=returned, granted=granted)
    # then no secret comes back, and exactly the returned fields outside the grant are named
    assert not any("SECRET" in v for row in out for v in row.values())
    assert masked == [f for f in returned if f not in granted]
    assert all(list(row) == returned for row in out)


# --- evidence ----------------------------------------------------------------------------------


def sm3_of(data: bytes) -> str:
    """SM3 by an independent implementation (gmssl)."""
    return str(sm3.sm3_hash(func.bytes_to_list(data)))


def test_sm3_gives_the_standards_example_value() -> None:
    # GB/T 32905-2016, example 1
    expected = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    digest = hashes.Hash(hashes.SM3())
    digest.update(b"abc")
    assert digest.finalize().hex() == expected
    assert sm3_of(b"abc") == expected


def test_the_request_hash_is_sm3_of_the_canonical_request() -> None:
    canonical = (
        '{"interface":"msa.enterprise-query","parameters":{"注册号":"1","注册日期":"2026-01-31"}}'
    )
    # keys sorted by code point: 号 (U+53F7) before 日 (U+65E5), whatever order they came in
    assert domain.request_hash(
        "msa.enterprise-query", {"注册日期": "2026-01-31", "注册号": "1"}
    ) == sm3_of(canonical.encode())


def shuffled(d: dict[str, str]) -> Iterator[tuple[str, str]]:
    return reversed(list(d.items()))


@given(st.text(max_size=30), st.dictionaries(st.text(max_size=10), st.text(max_size=10)))
def test_the_request_hash_does_not_depend_on_the_parameters_order(
    name: str, parameters: dict[str, str]
) -> None:
    assert domain.request_hash(name, parameters) == domain.request_hash(
        name, dict(shuffled(parameters))
    )


@given(st.text(max_size=10), st.text(max_size=10))
def test_different_values_hash_differently(a: str, b: str) -> None:
    assume(a != b)
    assert domain.request_hash("msa.q", {"注册号": a}) != domain.request_hash(
        "msa.q", {"注册号": b}
    )
    assert domain.request_hash("msa.q", {"注册号": a}) != domain.request_hash(
        "msa.r", {"注册号": a}
    )


def test_a_value_cannot_pass_for_a_parameter_name() -> None:
    # JSON keeps key and value apart, where naive joining would not
    assert domain.request_hash("q", {"a": "b=c"}) != domain.request_hash("q", {"a=b": "c"})


def test_the_request_hash_is_sixty_four_hex_digits() -> None:
    value = domain.request_hash("msa.q", {})
    assert len(value) == 64
    assert int(value, 16) >= 0


@pytest.mark.parametrize(
    ("sent", "named"),
    [
        ("vehicle-query", "msa.vehicle-query"),
        ("msa.vehicle-query", "msa.vehicle-query"),
        ("psb.vehicle-query", "psb.vehicle-query"),
        ("", ""),
    ],
)
def test_an_interface_sent_without_a_prefix_gets_its_providers(sent: str, named: str) -> None:
    assert domain.interface_name(sent, entry()) == named
    if named.startswith("msa."):
        domain.validate_interface(interface(name=domain.interface_name(sent, entry())), entry())
