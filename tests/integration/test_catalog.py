"""The catalog end to end through the gateway: a department compiles and submits a resource, the
Big Data Bureau returns, confirms and publishes it, staff find it in the share catalog, anyone in
the open catalog and its exports, the public asks for data to be opened, and the scorecards
reflect all of it, including the exchange's events."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
import uuid
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from conftest import Platform, act, create, eventually, open_body, publish, resource_body
from runtime.bus.events import cloudevent_headers
from services.catalog import events
from services.identity import demo
from smartcity.exchange.v1 import events_pb2 as exchange_events

pytestmark = pytest.mark.integration

RESOURCES = "/office/v1/catalog/resources"
OPEN = "/public/v1/catalog/open"


def unique_word() -> str:
    """A made-up word only one test's resource holds, so searches see only that resource."""
    return "zq" + uuid.uuid4().hex[:10]


async def search(
    platform: Platform, query: str, *, token: str | None = None, path: str = OPEN
) -> tuple[int, Any]:
    status, found, _ = await platform.request("GET", path, token=token, params={"q": query})
    return status, found


def ids(page: dict[str, Any]) -> list[str]:
    return [r["id"] for r in page["resources"]]


# --- the lifecycle -----------------------------------------------------------------------------


async def test_a_resource_goes_from_draft_to_the_share_catalog_through_review(
    platform: Platform,
) -> None:
    # given an officer of the Public Security Bureau and the Bureau's catalog officer
    officer = await platform.login("psb.officer")
    bureau = await platform.login("bdb.admin")
    other = await platform.login("hrss.officer")
    word = unique_word()
    created = await create(platform, officer, resource_body("psb", keywords=[word]))
    rid = created["id"]
    assert created["state"] == "draft" and created["code"].startswith("301001/")

    # when the department submits and the Bureau returns it with comments
    status, submitted = await act(platform, officer, rid, "submit")
    assert status == 200 and submitted["state"] == "submitted"
    status, returned = await act(platform, bureau, rid, "return", {"comment": "请补充共享条件"})
    assert status == 200 and returned["state"] == "returned"

    # then the department sees the comment in the history and fixes the resource in place
    status, history, _ = await platform.request("GET", f"{RESOURCES}/{rid}/history", token=officer)
    assert status == 200
    assert [t["to_state"] for t in history["transitions"]] == ["submitted", "returned"]
    assert history["transitions"][-1]["comment"] == "请补充共享条件"
    assert history["transitions"][-1]["actor_department"] == "bdb"
    status, edited, _ = await platform.request(
        "PATCH",
        f"{RESOURCES}/{rid}",
        token=officer,
        json={"share_conditions": "仅用于交通管理 traffic management, with a signed agreement"},
    )
    assert status == 200 and edited["version"] == 1 and edited["state"] == "draft"

    # when it is submitted again, confirmed and published to the share catalog only
    assert (await act(platform, officer, rid, "submit"))[0] == 200
    status, confirmed = await act(platform, bureau, rid, "confirm", {"comment": "ok"})
    assert status == 200 and confirmed["state"] == "confirmed"
    status, published = await act(
        platform, bureau, rid, "publish", {"share_catalog": True, "open_catalog": False}
    )
    assert status == 200 and published["state"] == "published"
    assert published["in_share_catalog"] and not published["in_open_catalog"]
    assert published["published_version"] == 1 and published["publish_time"]

    # then staff of another department find it in the share catalog, and the public does not
    status, found = await search(
        platform, word, token=other, path="/office/v1/catalog/share-catalog"
    )
    assert status == 200 and ids(found) == [rid]
    assert found["resources"][0]["share_conditions"].startswith("仅用于交通管理")
    status, found = await search(platform, word)
    assert status == 200 and ids(found) == []


async def test_a_revision_keeps_the_listed_version_until_it_is_published(
    platform: Platform,
) -> None:
    # given an open resource in both catalogs
    word = unique_word()
    published = await publish(platform, open_body(word=word))
    rid = published["id"]
    officer = await platform.login("hrss.officer")
    bureau = await platform.login("bdb.admin")

    # when the department revises it
    status, revised, _ = await platform.request(
        "PATCH",
        f"{RESOURCES}/{rid}",
        token=officer,
        json={
            "update_cycle": "weekly",
            "data_items": [
                {"name": "停车场名称", "type": "string", "description": "car park name"},
                {"name": "泊位数", "type": "integer", "description": "spaces in total"},
                {"name": "收费标准", "type": "string", "description": "tariff"},
            ],
        },
    )
    # then it is version 2, a draft, and the open catalog still lists version 1
    assert status == 200, revised
    assert revised["version"] == 2 and revised["state"] == "draft"
    assert revised["in_open_catalog"] and revised["published_version"] == 1
    _, found = await search(platform, word)
    assert [(r["id"], r["version"], r["update_cycle"]) for r in found["resources"]] == [
        (rid, 1, "daily")
    ]

    # and the diff between the versions reads field by field
    status, diff, _ = await platform.request("GET", f"{RESOURCES}/{rid}/diff", token=officer)
    assert status == 200 and (diff["from_version"], diff["to_version"]) == (1, 2)
    changes = {c["field"]: c for c in diff["changes"]}
    assert changes["update_cycle"]["before"] == "daily"
    assert changes["update_cycle"]["after"] == "weekly"
    assert changes["data_items[收费标准]"]["change"] == "added"
    assert changes["data_items[泊位数].description"]["after"] == "spaces in total"

    # when the revision is reviewed and published, the open catalog lists version 2
    assert (await act(platform, officer, rid, "submit"))[0] == 200
    assert (await act(platform, bureau, rid, "confirm"))[0] == 200
    status, _ = await act(
        platform, bureau, rid, "publish", {"share_catalog": True, "open_catalog": True}
    )
    assert status == 200
    _, found = await search(platform, word)
    assert [(r["version"], r["update_cycle"]) for r in found["resources"]] == [(2, "weekly")]


async def test_a_withdrawn_resource_leaves_both_catalogs(platform: Platform) -> None:
    word = unique_word()
    published = await publish(platform, open_body(word=word))
    bureau = await platform.login("bdb.admin")
    assert ids((await search(platform, word))[1]) == [published["id"]]
    # a reason is required
    status, problem = await act(platform, bureau, published["id"], "withdraw", {})
    assert status == 422 and problem["errors"][0]["field"] == "reason"
    status, withdrawn = await act(
        platform, bureau, published["id"], "withdraw", {"reason": "数据源停止维护"}
    )
    assert status == 200 and withdrawn["state"] == "withdrawn"
    assert not withdrawn["in_open_catalog"] and not withdrawn["in_share_catalog"]
    assert ids((await search(platform, word))[1]) == []
    status, _, _ = await platform.request("GET", f"{OPEN}/{published['id']}")
    assert status == 404


async def test_steps_out_of_order_are_409_naming_the_state(platform: Platform) -> None:
    officer = await platform.login("psb.officer")
    bureau = await platform.login("bdb.admin")
    created = await create(platform, officer, resource_body("psb"))
    status, problem = await act(platform, bureau, created["id"], "confirm")
    assert status == 409 and "draft" in problem["detail"]
    status, problem = await act(platform, bureau, created["id"], "publish", {"share_catalog": True})
    assert status == 409 and "confirmed" in problem["detail"]


async def test_only_the_bureau_reviews_and_only_the_department_edits(platform: Platform) -> None:
    officer = await platform.login("psb.officer")
    other = await platform.login("hrss.officer")
    created = await create(platform, officer, resource_body("psb"))
    rid = created["id"]
    # another department neither sees the draft nor edits or submits it
    status, _, _ = await platform.request("GET", f"{RESOURCES}/{rid}", token=other)
    assert status == 404
    status, problem, _ = await platform.request(
        "PATCH", f"{RESOURCES}/{rid}", token=other, json={"summary": "hijacked"}
    )
    assert status == 403 and "own department" in problem["detail"]
    assert (await act(platform, other, rid, "submit"))[0] == 403
    _, listed, _ = await platform.request("GET", RESOURCES, token=other, params={"page_size": 100})
    assert rid not in ids(listed)
    # the department cannot confirm its own resource
    assert (await act(platform, officer, rid, "submit"))[0] == 200
    status, problem = await act(platform, officer, rid, "confirm")
    assert status == 403 and "Big Data Bureau" in problem["detail"]
    # the Bureau sees the department's resource
    bureau = await platform.login("bdb.admin")
    status, _, _ = await platform.request("GET", f"{RESOURCES}/{rid}", token=bureau)
    assert status == 200


async def test_invalid_metadata_lists_every_rule_with_its_field(platform: Platform) -> None:
    officer = await platform.login("psb.officer")
    body = resource_body(
        "psb",
        share_type="not_shared",
        share_methods=["interface"],
        open_type="open",
        provider_code="91460100MA5T00000X",
        # (an item breaking its declared pattern would be refused before these rules run:
        # tests/integration/test_declared_constraints.py)
        classification={"category": "9", "item": "01", "sub_item": "001"},
    )
    body["data_items"][0]["grade"] = "core"
    status, problem, headers = await platform.request("POST", RESOURCES, token=officer, json=body)
    assert status == 422
    assert headers["Content-Type"].startswith("application/problem+json")
    rules = {(e["field"], e.get("rule")) for e in problem["errors"]}
    assert {
        ("share_basis", "not-shared-cites-legal-basis"),
        ("share_methods", "no-method-when-not-shared"),
        ("open_type", "protected-data-not-open"),
        ("open_type", "not-shared-not-open"),
        ("data_items[0].grade", "item-grade-within-resource-grade"),
        ("provider_code", "credit-code"),
        ("classification.category", "classification"),
    } <= rules, rules


async def test_sensitive_data_cannot_be_shared_unconditionally(platform: Platform) -> None:
    officer = await platform.login("psb.officer")
    body = resource_body("psb", share_type="unconditional")
    body["data_items"] = [body["data_items"][0]]  # no personal item: the grade alone decides
    status, problem, _ = await platform.request("POST", RESOURCES, token=officer, json=body)
    assert status == 422
    assert ("share_type", "protected-data-not-unconditional") in {
        (e["field"], e["rule"]) for e in problem["errors"]
    }


# --- the open catalog --------------------------------------------------------------------------


async def test_anyone_finds_an_open_resource_by_chinese_and_english_text(
    platform: Platform,
) -> None:
    # given an open resource with a unique Chinese name
    han = "".join(chr(0x4E00 + int(c, 16) * 37 + 5) for c in uuid.uuid4().hex[:6])
    published = await publish(
        platform, open_body(name=f"{han}停车数据 Parking data {unique_word()}")
    )
    rid = published["id"]
    # when anyone searches without signing in: the whole name, two characters, one character
    # (in context with a filter), and an English prefix
    for query in (han, han[2:4], han[1:5] + "停车"):
        status, found = await search(platform, query)
        assert status == 200 and rid in ids(found), query
    status, found, _ = await platform.request(
        "GET", OPEN, params={"q": han[3], "provider_department": "hrss", "data_grade": "public"}
    )
    assert status == 200 and rid in ids(found)
    status, found = await search(platform, "parkin " + han[:2])
    assert status == 200 and rid in ids(found)
    # a filter that excludes it, excludes it
    status, found, _ = await platform.request(
        "GET", OPEN, params={"q": han, "provider_department": "psb"}
    )
    assert status == 200 and ids(found) == []
    # search pages leave the data items out unless asked for them
    status, found = await search(platform, han)
    assert found["resources"][0]["data_items"] == []
    status, found, _ = await platform.request("GET", OPEN, params={"q": han, "view": "full"})
    assert [i["name"] for i in found["resources"][0]["data_items"]] == ["停车场名称", "泊位数"]
    # and the resource itself is readable without signing in, in full
    status, one, _ = await platform.request("GET", f"{OPEN}/{rid}")
    assert status == 200 and one["code"] == published["code"] and one["state"] == "published"
    assert len(one["data_items"]) == 2


async def test_the_open_catalog_pages_newest_first_without_a_query(platform: Platform) -> None:
    a = await publish(platform, open_body(word=unique_word()))
    b = await publish(platform, open_body(word=unique_word()))
    status, first, _ = await platform.request("GET", OPEN, params={"page_size": 1})
    assert status == 200 and ids(first) == [b["id"]]
    status, second, _ = await platform.request(
        "GET", OPEN, params={"page_size": 1, "page_token": first["next_page_token"]}
    )
    assert status == 200 and ids(second) == [a["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x" * 101}, "query"),
        ({"q": "a b c d e f g h i"}, "query"),
        ({"share_type": "sometimes"}, "share_type"),
        ({"classification": "3%"}, "classification"),
        ({"provider_department": "PSB'--"}, "provider_department"),
        ({"page_size": "many"}, "page_size"),
        ({"page_token": "forged"}, "page_token"),
    ],
)
async def test_bad_search_input_is_422_naming_the_parameter(
    platform: Platform, params: dict[str, str], field: str
) -> None:
    status, problem, _ = await platform.request("GET", OPEN, params=params)
    assert status == 422, problem
    assert field in [e["field"] for e in problem["errors"]]


@pytest.mark.parametrize(
    "query",
    ["'; DROP TABLE search_terms; --", '"a" OR 1=1', "%_\\*", "停车' OR '1'='1", "NEAR(a b)"],
)
async def test_query_syntax_is_plain_text(platform: Platform, query: str) -> None:
    status, found = await search(platform, query)
    assert status == 200, found
    # the catalog is still whole afterwards
    status, everything, _ = await platform.request("GET", OPEN)
    assert status == 200 and everything["resources"]


async def test_the_open_catalog_exports_as_dcat_and_csv(platform: Platform) -> None:
    word = unique_word()
    published = await publish(platform, open_body(word=word))
    # DCAT-AP JSON-LD
    async with platform.http.get(f"{platform.url}/public/v1/catalog/open.jsonld") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("application/ld+json")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        document = await r.json(content_type=None)
    catalog = document["@graph"][0] if "@graph" in document else document
    datasets = catalog["dcat:dataset"]
    mine = [d for d in datasets if d["dct:identifier"] == published["code"]]
    assert len(mine) == 1 and mine[0]["@type"] == "dcat:Dataset"
    assert mine[0]["@id"].endswith(f"/public/v1/catalog/open/{published['id']}")
    # CSV, with a BOM for spreadsheets and one row per resource
    async with platform.http.get(f"{platform.url}/public/v1/catalog/open.csv") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        raw = await r.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    row = next(r for r in rows if r["code"] == published["code"])
    assert word in row["name"] and row["open_type"] == "open"
    # nothing that is not open is exported
    assert {r["open_type"] for r in rows} <= {"open", "conditional"}


# --- public demands ----------------------------------------------------------------------------


def backdate_due(platform: Platform, demand_id: str) -> None:
    """Time passes: the deadline of a routed demand is moved into the past."""
    path = platform.data_dir / "catalog" / "catalog.db"
    with sqlite3.connect(path) as conn:
        past = int((time.time() - 3600) * 1_000_000)
        conn.execute("UPDATE demands SET due_us = ? WHERE id = ?", (past, demand_id))


async def test_a_citizen_asks_for_data_and_a_department_answers_in_public(
    platform: Platform,
) -> None:
    citizen = await platform.login("demo.citizen", entry="public")
    bureau = await platform.login("bdb.admin")
    officer = await platform.login("hrss.officer")
    # given a citizen's demand
    status, demand, headers = await platform.request(
        "POST",
        "/public/v1/catalog/demands",
        token=citizen,
        json={
            "title": "公共停车场实时泊位",
            "description": "希望开放实时泊位数据",
            "suggested_department": "hrss",
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert status == 201, demand
    assert demand["state"] == "submitted" and demand["requester_kind"] == "citizen"
    did = demand["id"]
    assert headers["Location"] == f"/public/v1/catalog/demands/{did}"
    # it is public without saying who asked, and the citizen sees it among their own
    status, seen, _ = await platform.request("GET", f"/public/v1/catalog/demands/{did}")
    assert status == 200 and seen["title"] == "公共停车场实时泊位"
    assert not {"requester", "requester_id", "subject"} & set(seen)
    status, mine, _ = await platform.request(
        "GET", "/public/v1/catalog/demands/mine", token=citizen
    )
    assert status == 200 and did in [d["id"] for d in mine["demands"]]
    agent = await platform.login(
        "demo.enterprise", entry="public", enterprise_id=demo.ENTERPRISE_ID
    )
    status, theirs, _ = await platform.request(
        "GET", "/public/v1/catalog/demands/mine", token=agent
    )
    assert status == 200 and did not in [d["id"] for d in theirs["demands"]]

    # when the Bureau routes it to a department with a deadline
    status, _, _ = await platform.request(
        "POST",
        f"/office/v1/catalog/demands/{did}/route",
        token=officer,
        json={"department": "hrss"},
    )
    assert status == 403
    status, routed, _ = await platform.request(
        "POST",
        f"/office/v1/catalog/demands/{did}/route",
        token=bureau,
        json={"department": "hrss", "due_days": 10},
    )
    assert status == 200 and routed["state"] == "routed" and routed["due_time"]
    assert not routed["overdue"]

    # and the department opens the data and answers with it
    published = await publish(platform, open_body(word=unique_word()))
    psb = await platform.login("psb.officer")
    answer = {"outcome": "opened", "answer": "已开放", "resource_id": published["id"]}
    status, _, _ = await platform.request(
        "POST", f"/office/v1/catalog/demands/{did}/answer", token=psb, json=answer
    )
    assert status == 403  # not routed to the Public Security Bureau
    status, answered, _ = await platform.request(
        "POST", f"/office/v1/catalog/demands/{did}/answer", token=officer, json=answer
    )
    assert status == 200, answered
    assert answered["state"] == "answered" and answered["resource_id"] == published["id"]
    # then the status and the answer are public
    status, seen, _ = await platform.request("GET", f"/public/v1/catalog/demands/{did}")
    assert status == 200 and seen["answer"] == "已开放" and seen["outcome"] == "opened"


async def test_an_unanswered_demand_past_its_deadline_is_flagged_overdue(
    platform: Platform,
) -> None:
    citizen = await platform.login("demo.citizen", entry="public")
    bureau = await platform.login("bdb.admin")
    status, demand, _ = await platform.request(
        "POST",
        "/public/v1/catalog/demands",
        token=citizen,
        json={"title": "历年气象观测数据", "description": "用于农业研究"},
    )
    assert status == 201
    did = demand["id"]
    status, _, _ = await platform.request(
        "POST", f"/office/v1/catalog/demands/{did}/route", token=bureau, json={"department": "msa"}
    )
    assert status == 200
    backdate_due(platform, did)
    status, seen, _ = await platform.request("GET", f"/public/v1/catalog/demands/{did}")
    assert status == 200 and seen["overdue"]
    status, overdue, _ = await platform.request(
        "GET", "/public/v1/catalog/demands", params={"overdue": "true", "department": "msa"}
    )
    assert status == 200 and did in [d["id"] for d in overdue["demands"]]
    msa = await platform.login("msa.officer")
    status, cards, _ = await platform.request("GET", "/office/v1/catalog/scorecards", token=msa)
    assert status == 200 and cards["scorecards"][0]["demands_overdue"] >= 1


async def test_only_citizens_and_enterprises_make_demands(platform: Platform) -> None:
    body = {"title": "t", "description": "d"}
    status, _, _ = await platform.request("POST", "/public/v1/catalog/demands", json=body)
    assert status == 401
    officer = await platform.login("psb.officer")
    status, _, _ = await platform.request(
        "POST", "/public/v1/catalog/demands", token=officer, json=body
    )
    assert status == 401  # an office token is not for the public entry point
    citizen = await platform.login("demo.citizen", entry="public")
    for body, fields in (
        ({"title": "t", "requester": "someone else"}, {"requester"}),
        ({"title": " ", "description": "x" * 2001}, {"title", "description"}),
        (
            {"title": "t", "description": "d", "suggested_department": "PSB'"},
            {"suggested_department"},
        ),
    ):
        status, problem, _ = await platform.request(
            "POST", "/public/v1/catalog/demands", token=citizen, json=body
        )
        assert status == 422 and {e["field"] for e in problem["errors"]} == fields


# --- evaluation --------------------------------------------------------------------------------


def _ts(us: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMicroseconds(us)
    return ts


async def publish_exchange_event(platform: Platform, event_type: Any, payload: Any) -> None:
    """What the exchange announces, on the platform's own NATS, as the exchange publishes it."""
    nc = await platform.nats_as("exchange")
    try:
        event_id = str(uuid.uuid4())
        headers = cloudevent_headers(
            event_id=event_id,
            subject=event_type.subject,
            source="/smartcity/exchange",
            entity_id=event_id,
            time_us=int(time.time() * 1_000_000),
            content_type=event_type.content_type,
        )
        await nc.jetstream().publish(
            event_type.subject, payload.SerializeToString(), headers=headers, timeout=5
        )
    finally:
        await nc.close()


async def test_scorecards_rank_every_provider_for_the_bureau_and_show_a_department_its_own(
    platform: Platform,
) -> None:
    # given a published resource of the Market Supervision Administration, and the exchange's
    # account of a share request it answered late and a data update
    published = await publish(platform, open_body("msa", word=unique_word()))
    now = int(time.time() * 1_000_000)
    request_id = str(uuid.uuid4())
    await publish_exchange_event(
        platform,
        events.SHARE_REQUEST_DECIDED,
        exchange_events.ShareRequestDecided(
            share_request_id=request_id,
            resource_id=published["id"],
            provider_department="msa",
            consumer="department:psb",
            outcome=exchange_events.SHARE_REQUEST_OUTCOME_GRANTED,
            submit_time=_ts(now - 7_200_000_000),
            decide_time=_ts(now),
            late=True,
        ),
    )
    await publish_exchange_event(
        platform,
        events.DATASET_UPDATED,
        exchange_events.DatasetUpdated(
            resource_id=published["id"],
            provider_department="msa",
            version=1,
            record_count=10,
            update_time=_ts(now),
        ),
    )
    bureau = await platform.login("bdb.admin")

    async def msa_card() -> dict[str, Any] | None:
        status, cards, _ = await platform.request(
            "GET", "/office/v1/catalog/scorecards", token=bureau
        )
        assert status == 200
        card = next((c for c in cards["scorecards"] if c["department"] == "msa"), None)
        return card if card and card.get("share_requests_late", 0) >= 1 else None

    card = await eventually(msa_card, timeout=20)
    assert card is not None
    assert card["share_requests_answered"] >= 1 and card["share_requests_granted"] >= 1
    assert card["share_request_mean_hours"] > 0
    assert card["resources_published"] >= 1 and card["resources_fresh"] >= 1
    assert 0 < card["metadata_completeness"] <= 1 and 0 < card["score"] <= 100
    # then the Bureau sees every provider ranked, best first
    _, cards, _ = await platform.request("GET", "/office/v1/catalog/scorecards", token=bureau)
    ranks = [c["rank"] for c in cards["scorecards"]]
    assert ranks == list(range(1, len(ranks) + 1))
    scores = [c["score"] for c in cards["scorecards"]]
    assert scores == sorted(scores, reverse=True)
    assert {"psb", "hrss", "msa"} <= {c["department"] for c in cards["scorecards"]}
    # and a department sees only its own, whatever it asks for
    psb = await platform.login("psb.officer")
    _, own, _ = await platform.request(
        "GET", "/office/v1/catalog/scorecards", token=psb, params={"department": "msa"}
    )
    assert [c["department"] for c in own["scorecards"]] == ["psb"]
