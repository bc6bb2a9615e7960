"""The exchange end to end through the gateway: a provider pushes records of a published
resource, consumers ask for it (granted at once, approved, refused), query an interface service
with a grant and an interface authorisation code, fields outside the grant stay masked, both
sides read the evidence, and revocations end access at once."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import (
    Platform,
    audit_records,
    eventually,
    open_body,
    publish,
    remember_secret,
    resource_body,
)
from runtime import algorithms
from services.exchange import domain
from smartcity.exchange.v1 import events_pb2

pytestmark = pytest.mark.integration

EXCHANGE = "/office/v1/exchange"
PARKING = [
    {"停车场名称": "海秀公园停车场", "泊位数": "120"},
    {"停车场名称": "万绿园停车场", "泊位数": "300"},
    {"停车场名称": "骑楼老街停车场", "泊位数": "80"},
]


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


async def push(
    platform: Platform, resource_id: str, records: list[dict[str, str]], *, token: str
) -> tuple[int, Any]:
    status, body, _ = await platform.request(
        "POST",
        f"{EXCHANGE}/datasets/{resource_id}/records",
        token=token,
        json={"records": [{"fields": r} for r in records]},
    )
    return status, body


async def ask(platform: Platform, token: str, resource_id: str, **fields: Any) -> tuple[int, Any]:
    body = {
        "resource_id": resource_id,
        "purpose": "停车诱导 parking guidance",
        "legal_basis": "《海口市智慧城市促进条例》第十三条",
        "fields": ["停车场名称", "泊位数"],
        "duration_days": 30,
        **fields,
    }
    status, answer, _ = await platform.request(
        "POST", f"{EXCHANGE}/share-requests", token=token, json=body
    )
    return status, answer


async def code_for(platform: Platform, department: str, interface: str) -> tuple[str, str]:
    """An interface authorisation code issued by the Bureau: (secret, id)."""
    admin = await platform.login("bdb.admin")
    body = {
        "consumer": f"department:{department}",
        "interface_services": [interface],
        "expire_time": in_days(1),
        "rate_limit_per_minute": 600,
    }
    status, issued, _ = await platform.request(
        "POST", "/office/v1/authorisation-codes", token=admin, json=body
    )
    assert status == 201, issued
    remember_secret(issued["secret"])
    return issued["secret"], issued["code"]["id"]


async def query(
    platform: Platform, token: str, name: str, code: str, **parameters: str
) -> tuple[int, Any]:
    status, answer, _ = await platform.request(
        "POST",
        f"{EXCHANGE}/interfaces/{name}/query",
        token=token,
        json={"parameters": parameters, "purpose": "parking guidance", "authorisation_code": code},
    )
    return status, answer


async def parking_resource(platform: Platform) -> tuple[dict[str, Any], str]:
    """A published, unconditionally shared resource of hrss with records and an interface."""
    resource = await publish(platform, open_body(word=uuid.uuid4().hex[:8]))
    officer = await platform.login("hrss.officer")
    status, dataset = await push(platform, resource["id"], PARKING, token=officer)
    assert status == 200, dataset
    name = f"hrss.parking-{uuid.uuid4().hex[:8]}"
    status, created, _ = await platform.request(
        "POST",
        f"{EXCHANGE}/interfaces",
        token=officer,
        json={
            "name": name,
            "resource_id": resource["id"],
            "description": "泊位数 by car park name",
            "parameters": ["停车场名称", "泊位数"],
            "returned_fields": ["停车场名称", "泊位数"],
        },
    )
    assert status == 201, created
    return resource, name


async def test_a_provider_pushes_records_all_or_nothing(platform: Platform) -> None:
    resource = await publish(platform, open_body(word=uuid.uuid4().hex[:8]))
    officer = await platform.login("hrss.officer")
    # given a first batch
    status, dataset = await push(platform, resource["id"], PARKING[:2], token=officer)
    assert status == 200, dataset
    assert dataset["version"] == 1 and dataset["record_count"] == 2
    # when a batch holds one bad record among good ones
    bad = [PARKING[2], {"停车场名称": "x", "泊位数": "many"}, {"颜色": "red"}]
    status, problem = await push(platform, resource["id"], bad, token=officer)
    # then nothing of it is kept, and the problem names each row and field
    assert status == 422
    fields = {e["field"] for e in problem["errors"]}
    assert {"records[1].fields[泊位数]", "records[2].fields[颜色]"} <= fields
    assert "many" not in str(problem)  # values never echo back
    status, dataset, _ = await platform.request(
        "GET", f"{EXCHANGE}/datasets/{resource['id']}", token=officer
    )
    assert status == 200 and dataset["version"] == 1 and dataset["record_count"] == 2
    # and another department cannot push to it
    psb = await platform.login("psb.officer")
    status, _ = await push(platform, resource["id"], PARKING[:1], token=psb)
    assert status == 403


async def test_the_share_type_decides_at_once_or_waits_for_the_provider(
    platform: Platform,
) -> None:
    psb = await platform.login("psb.officer")
    hrss = await platform.login("hrss.officer")
    # an unconditionally shared resource is granted at once
    open_resource = await publish(platform, open_body(word=uuid.uuid4().hex[:8]))
    status, granted = await ask(platform, psb, open_resource["id"])
    assert status == 201, granted
    assert granted["state"] == "granted" and granted["grant_id"]
    # a conditional one waits for the provider's share approver, who grants part of it
    conditional = await publish(platform, resource_body("psb"), open_=False)
    status, pending = await ask(
        platform, hrss, conditional["id"], fields=["plate_number", "owner_id_number"]
    )
    assert status == 201 and pending["state"] == "pending" and pending["due_time"]
    msa = await platform.login("msa.officer")
    status, _, _ = await platform.request(
        "POST", f"{EXCHANGE}/share-requests/{pending['id']}/decide", token=msa, json={"grant": True}
    )
    assert status == 404  # not msa's business: as good as absent
    status, decided, _ = await platform.request(
        "POST",
        f"{EXCHANGE}/share-requests/{pending['id']}/decide",
        token=psb,
        json={"grant": True, "fields": ["plate_number"], "duration_days": 7},
    )
    assert status == 200, decided
    assert decided["state"] == "granted" and decided["grant_id"]
    status, grants, _ = await platform.request("GET", f"{EXCHANGE}/grants", token=hrss)
    grant = next(g for g in grants["grants"] if g["id"] == decided["grant_id"])
    assert grant["fields"] == ["plate_number"] and grant["consumer"] == "department:hrss"
    # a not-shared resource is refused with its legal basis
    secret = await publish(
        platform,
        resource_body(
            "psb",
            share_type="not_shared",
            share_basis="《中华人民共和国个人信息保护法》第十三条",
            share_methods=[],
            share_conditions="",
        ),
        open_=False,
    )
    status, refused = await ask(platform, hrss, secret["id"], fields=["plate_number"])
    assert status == 201 and refused["state"] == "refused"
    assert "个人信息保护法" in refused["reason"]
    # and the provider does not ask for its own data
    status, _ = await ask(platform, psb, conditional["id"], fields=["plate_number"])
    assert status == 403


async def test_a_consumer_queries_with_grant_and_code_and_both_sides_see_the_evidence(
    platform: Platform,
) -> None:
    resource, name = await parking_resource(platform)
    psb = await platform.login("psb.officer")
    # given a grant of the name only, and a code for the interface
    status, granted = await ask(platform, psb, resource["id"], fields=["停车场名称"])
    assert status == 201 and granted["state"] == "granted"
    secret, _ = await code_for(platform, "psb", name)
    # when the consumer queries by car park name
    status, answer = await query(platform, psb, name, secret, 停车场名称="万绿园停车场")
    # then it gets the record with the field outside its grant masked
    assert status == 200, answer
    assert answer["records"] == [{"fields": {"停车场名称": "万绿园停车场", "泊位数": "***"}}]
    assert answer["masked_fields"] == ["泊位数"] and answer["evidence_id"]
    # and both sides see the evidence, a third department does not
    for token in (psb, await platform.login("hrss.officer")):
        status, listed, _ = await platform.request("GET", f"{EXCHANGE}/evidence", token=token)
        assert status == 200
        mine = [e for e in listed["evidence"] if e["id"] == answer["evidence_id"]]
        assert len(mine) == 1 and mine[0]["result_count"] == 1
        assert mine[0]["consumer"] == "department:psb" and len(mine[0]["request_hash"]) == 64
        assert "万绿园" not in str(mine[0])  # a hash of the request, never its values
    msa = await platform.login("msa.officer")
    _, listed, _ = await platform.request("GET", f"{EXCHANGE}/evidence", token=msa)
    assert answer["evidence_id"] not in [e["id"] for e in listed["evidence"]]
    # and the evidence is signed: its hash is in a batch whose SM2 signature holds
    evidence = mine[0]
    status, batch, _ = await platform.request(
        "GET", f"{EXCHANGE}/evidence-batches/{evidence['batch_id']}", token=psb
    )
    assert status == 200, batch
    assert evidence_hash(evidence) == evidence["record_hash"] in batch["record_hashes"]
    assert domain.batch_digest(batch["record_hashes"]).hex() == batch["digest"]
    assert batch["signature"].startswith("sc:exchange.evidence-signing:v1:")
    status, _, _ = await platform.request(
        "GET", f"{EXCHANGE}/evidence-batches/{evidence['batch_id']}", token=msa
    )
    assert status == 404  # not a party to any of its records: refused, and recorded
    auditor = await platform.login("bdb.auditor")

    async def audited() -> list[dict[str, Any]]:
        return [
            r["record"]
            for r in await audit_records(platform, auditor, evidence["batch_id"])
            if r["record"]["outcome"] == "denied" and r["record"]["actor_department"] == "msa"
        ]

    assert (await eventually(audited, timeout=15))[0]["action"] == "exchange.evidence_batch.read"
    # the key signs only through the exchange; anyone checks its signatures offline
    _, version, encoded = batch["signature"].rsplit(":", 2)
    status, public, _ = await platform.request(
        "GET", f"/public/v1/keys/exchange.evidence-signing/public-key?version={version[1:]}"
    )
    assert status == 200, public
    signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    assert algorithms.verify(
        "sm2",
        public["public_key_pem"].encode(),
        bytes.fromhex(batch["digest"]),
        signature=signature,
    )


def evidence_hash(evidence: dict[str, Any]) -> str:
    """A party's own recomputation of a record's hash from what the evidence list shows."""
    at = datetime.fromisoformat(evidence["time"].replace("Z", "+00:00"))
    at_us = int(at.timestamp()) * 1_000_000 + at.microsecond
    return domain.evidence_hash({**evidence, "at_us": at_us})


async def test_queries_without_grant_code_or_within_the_grant_are_refused(
    platform: Platform,
) -> None:
    resource, name = await parking_resource(platform)
    psb = await platform.login("psb.officer")
    msa = await platform.login("msa.officer")
    psb_code, psb_code_id = await code_for(platform, "psb", name)
    msa_code, _ = await code_for(platform, "msa", name)
    # no grant
    status, problem = await query(platform, msa, name, msa_code)
    assert status == 403 and "grant" in problem["detail"]
    # a grant of the name only: filtering on the spaces would reveal them
    status, _ = await ask(platform, psb, resource["id"], fields=["停车场名称"])
    assert status == 201
    status, problem = await query(platform, psb, name, psb_code, 泊位数="300")
    assert status == 403 and "泊位数" in problem["detail"]
    # a parameter the interface does not take
    status, problem = await query(platform, psb, name, psb_code, 颜色="red")
    assert status == 422 and problem["errors"][0]["field"] == "parameters[颜色]"
    # another department's code, a made-up code, a revoked code
    status, problem = await query(platform, psb, name, msa_code)
    assert status == 403
    status, problem = await query(platform, psb, name, "iac.forged.secret")
    assert status == 403
    admin = await platform.login("bdb.admin")
    status, _, _ = await platform.request(
        "POST", f"/office/v1/authorisation-codes/{psb_code_id}/revoke", token=admin
    )
    assert status == 200

    async def refused() -> bool:
        status, _ = await query(platform, psb, name, psb_code)
        return status == 403

    await eventually(refused, timeout=5)
    # and every refusal reached the audit chain, naming the interface and who was refused
    auditor = await platform.login("bdb.auditor")

    async def audited() -> list[dict[str, Any]]:
        denied = [
            r["record"]
            for r in await audit_records(platform, auditor, name)
            if r["record"]["outcome"] == "denied"
        ]
        return denied if len(denied) >= 5 else []

    denied = await eventually(audited, timeout=15)
    assert {r["action"] for r in denied} == {"exchange.interface_service.queried"}
    assert {r["actor_department"] for r in denied} == {"psb", "msa"}


async def test_a_revoked_grant_ends_access_at_once(platform: Platform) -> None:
    resource, name = await parking_resource(platform)
    psb = await platform.login("psb.officer")
    hrss = await platform.login("hrss.officer")
    status, granted = await ask(platform, psb, resource["id"])
    assert status == 201
    secret, _ = await code_for(platform, "psb", name)
    status, answer = await query(platform, psb, name, secret)
    assert status == 200 and len(answer["records"]) == 3 and answer["masked_fields"] == []
    # the consumer cannot revoke; the provider's approver can
    status, _, _ = await platform.request(
        "POST", f"{EXCHANGE}/grants/{granted['grant_id']}/revoke", token=psb, json={"reason": "x"}
    )
    assert status == 403
    status, revoked, _ = await platform.request(
        "POST",
        f"{EXCHANGE}/grants/{granted['grant_id']}/revoke",
        token=hrss,
        json={"reason": "用途已结束"},
    )
    assert status == 200 and revoked["revoked"]
    status, problem = await query(platform, psb, name, secret)
    assert status == 403 and "grant" in problem["detail"]


async def test_share_requests_reach_the_provider_scorecard(platform: Platform) -> None:
    # given a request to the Market Supervision Administration answered at once
    resource = await publish(platform, open_body("msa", word=uuid.uuid4().hex[:8]))
    psb = await platform.login("psb.officer")
    status, _ = await ask(platform, psb, resource["id"])
    assert status == 201
    msa = await platform.login("msa.officer")

    async def counted() -> dict[str, Any] | None:
        _, cards, _ = await platform.request("GET", "/office/v1/catalog/scorecards", token=msa)
        card = cards["scorecards"][0]
        return card if card["share_requests_granted"] >= 1 else None

    # then the catalog's scorecard counts it, from the exchange's events
    card = await eventually(counted, timeout=20)
    assert card["share_requests_received"] >= card["share_requests_answered"] >= 1


async def test_a_subscriber_is_told_of_each_batch_and_reads_only_what_is_new(
    platform: Platform,
) -> None:
    resource, _ = await parking_resource(platform)
    psb = await platform.login("psb.officer")
    hrss = await platform.login("hrss.officer")
    status, granted = await ask(platform, psb, resource["id"], fields=["停车场名称"])
    assert status == 201 and granted["state"] == "granted"
    # given a subscription (one per department and resource)
    body = {"resource_id": resource["id"]}
    status, subscription, _ = await platform.request(
        "POST", f"{EXCHANGE}/subscriptions", token=psb, json=body
    )
    assert status == 201 and subscription["consumer_department"] == "psb"
    status, _, _ = await platform.request("POST", f"{EXCHANGE}/subscriptions", token=psb, json=body)
    assert status == 409
    # when the provider pushes a batch, the subscriber's own subject announces it
    nc = await platform.nats_as("observer")
    try:
        inbox = await nc.subscribe("smartcity.exchange.delivery.psb")
        status, _ = await push(
            platform,
            resource["id"],
            [{"停车场名称": "假日海滩停车场", "泊位数": "500"}],
            token=hrss,
        )
        assert status == 200
        announced = events_pb2.DeliveryAvailable()
        while announced.subscription_id != subscription["id"]:
            announced.ParseFromString((await inbox.next_msg(timeout=10)).data)
    finally:
        await nc.close()
    assert (announced.dataset_version, announced.record_count) == (2, 1)
    # then the subscriber reads what is new, masked as its grant says
    changes = f"{EXCHANGE}/subscriptions/{subscription['id']}/changes"
    status, new, _ = await platform.request(
        "GET", changes, token=psb, params={"after_version": "1"}
    )
    assert status == 200, new
    assert new["records"] == [{"fields": {"停车场名称": "假日海滩停车场", "泊位数": "***"}}]
    assert new["dataset_version"] == 2 and new["evidence_id"]
    status, everything, _ = await platform.request("GET", changes, token=psb)
    assert status == 200 and len(everything["records"]) == 4
    # nobody else reads it
    msa = await platform.login("msa.officer")
    status, _, _ = await platform.request("GET", changes, token=msa)
    assert status == 404
    # and a revoked grant stops the deliveries
    status, _, _ = await platform.request(
        "POST",
        f"{EXCHANGE}/grants/{granted['grant_id']}/revoke",
        token=hrss,
        json={"reason": "用途已结束"},
    )
    assert status == 200
    status, problem, _ = await platform.request("GET", changes, token=psb)
    assert status == 403 and "grant" in problem["detail"]


async def test_an_interface_service_describes_itself_as_openapi(platform: Platform) -> None:
    _, name = await parking_resource(platform)
    psb = await platform.login("psb.officer")
    status, document, headers = await platform.request(
        "GET", f"{EXCHANGE}/interfaces/{name}/openapi.json", token=psb
    )
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert document["openapi"] == "3.1.0"
    operation = document["paths"][f"/office/v1/exchange/interfaces/{name}/query"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    parameters = body["properties"]["parameters"]["properties"]
    assert parameters["泊位数"]["pattern"] == r"^[+-]?[0-9]+$"  # an integer item, as text
    assert set(parameters) == {"停车场名称", "泊位数"}


async def test_a_partner_system_asks_holds_a_grant_and_queries_at_its_own_entry_point(
    platform: Platform,
) -> None:
    # given a partner system (Art. 14) and an interface service
    resource, name = await parking_resource(platform)
    partner = await platform.login("demo.partner", entry="partner")
    client = "demo.partner"  # a partner's client id is its account's name
    # when it asks for the data at its own entry point, it is granted as the partner it is
    status, granted, headers = await platform.request(
        "POST",
        "/partner/v1/exchange/share-requests",
        token=partner,
        json={
            "resource_id": resource["id"],
            "purpose": "导航应用显示泊位 navigation app",
            "legal_basis": "《海口市智慧城市促进条例》第十四条",
            "fields": ["停车场名称", "泊位数"],
            "duration_days": 30,
        },
    )
    assert status == 201, granted
    assert granted["state"] == "granted" and granted["consumer"] == f"partner:{client}"
    assert headers["Location"].startswith("/partner/v1/exchange/share-requests/")
    # and queries with a code issued to it
    admin = await platform.login("bdb.admin")
    status, issued, _ = await platform.request(
        "POST",
        "/office/v1/authorisation-codes",
        token=admin,
        json={
            "consumer": f"partner:{client}",
            "interface_services": [name],
            "expire_time": in_days(1),
        },
    )
    assert status == 201, issued
    remember_secret(issued["secret"])
    status, answer, _ = await platform.request(
        "POST",
        f"/partner/v1/exchange/interfaces/{name}/query",
        token=partner,
        json={
            "parameters": {"停车场名称": "万绿园停车场"},
            "purpose": "navigation",
            "authorisation_code": issued["secret"],
        },
    )
    assert status == 200, answer
    assert answer["records"] == [{"fields": {"停车场名称": "万绿园停车场", "泊位数": "300"}}]
    # it reads its own evidence and requests, and nobody else's
    status, evidence, _ = await platform.request(
        "GET", "/partner/v1/exchange/evidence", token=partner
    )
    assert status == 200
    assert {e["consumer"] for e in evidence["evidence"]} == {f"partner:{client}"}
    status, requests, _ = await platform.request(
        "GET", "/partner/v1/exchange/share-requests", token=partner
    )
    assert {r["consumer"] for r in requests["share_requests"]} == {f"partner:{client}"}


async def test_other_departments_see_a_resource_in_the_exchange_once_it_is_listed(
    platform: Platform,
) -> None:
    psb = await platform.login("psb.officer")
    hrss = await platform.login("hrss.officer")
    # a draft: the exchange learns of it, and shows it to its department only
    status, draft, _ = await platform.request(
        "POST", "/office/v1/catalog/resources", token=psb, json=resource_body("psb")
    )
    assert status == 201

    async def psb_sees_the_draft() -> bool:
        return draft["id"] in await platform.exchange_resources(psb)

    await eventually(psb_sees_the_draft)
    assert draft["id"] not in await platform.exchange_resources(hrss)
    # a listed resource: every department sees it
    listed = await publish(platform, resource_body("psb"), open_=False)

    async def hrss_sees_it() -> bool:
        return listed["id"] in await platform.exchange_resources(hrss)

    await eventually(hrss_sees_it)
    assert draft["id"] not in await platform.exchange_resources(hrss)
