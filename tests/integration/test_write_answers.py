"""Answers equal the stored state: what a write route answers is what a read of the same thing
shows afterwards (the grant as granted, the profile as /me shows it, the licence as its issuer
reads it, the enterprise as its representative's list shows it)."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from conftest import Platform, publish, remember_secret, resource_body, revoke_held_licences
from runtime import identifiers
from services.identity import demo as people
from services.identity import domain
from services.licences.demo import sample_fields

pytestmark = pytest.mark.integration

EXCHANGE = "/office/v1/exchange"


def resident_id() -> str:
    born = date(1950, 1, 1) + timedelta(days=random.randrange(20_000))
    first17 = f"460105{born:%Y%m%d}{random.randint(1, 999):03d}"
    number = first17 + identifiers.resident_id_check_char(first17)
    remember_secret(number)
    return number


def credit_code() -> str:
    organisation8 = "MA" + uuid.uuid4().hex[:6].upper()
    organisation = organisation8 + identifiers.organisation_code_check_char(organisation8)
    first17 = "91460100" + organisation
    code = first17 + identifiers.credit_code_check_char(first17)
    remember_secret(code)
    return code


async def test_deciding_a_share_request_answers_the_grant_as_granted(platform: Platform) -> None:
    hrss = await platform.login("hrss.officer")
    psb = await platform.login("psb.officer")  # psb's share approver
    resource = await publish(
        platform, resource_body("psb", name=f"机动车 {uuid.uuid4().hex[:6]}"), open_=False
    )
    # given: a request for two fields for 30 days
    status, asked, _ = await platform.request(
        "POST",
        f"{EXCHANGE}/share-requests",
        token=hrss,
        json={
            "resource_id": resource["id"],
            "purpose": "交通管理 traffic management",
            "legal_basis": "《海口市智慧城市促进条例》第十三条",
            "fields": ["plate_number", "owner_id_number"],
            "duration_days": 30,
        },
    )
    assert status == 201 and asked["state"] == "pending" and asked["grant"] is None, asked
    # when: the approver grants one field for 7 days
    status, decided, _ = await platform.request(
        "POST",
        f"{EXCHANGE}/share-requests/{asked['id']}/decide",
        token=psb,
        json={"grant": True, "fields": ["plate_number"], "duration_days": 7},
    )
    # then: the answer holds the grant as granted, and says what was asked separately
    assert status == 200, decided
    grant = decided["grant"]
    assert grant["id"] == decided["grant_id"] and grant["fields"] == ["plate_number"]
    assert grant["expire_time"] and grant["revoked"] is False
    assert decided["fields"] == ["plate_number", "owner_id_number"]
    assert decided["duration_days"] == 30
    # and it is what the consumer's list of grants and a read of the request show
    status, grants, _ = await platform.request("GET", f"{EXCHANGE}/grants", token=hrss)
    assert status == 200
    assert next(g for g in grants["grants"] if g["id"] == grant["id"]) == grant
    status, read, _ = await platform.request(
        "GET", f"{EXCHANGE}/share-requests/{asked['id']}", token=hrss
    )
    assert status == 200 and read == decided


async def test_registering_a_citizen_answers_the_profile_as_me_shows_it(
    platform: Platform,
) -> None:
    username = f"citizen.{uuid.uuid4().hex[:8]}"
    password = f"registered-{uuid.uuid4().hex}"
    remember_secret(password)
    body = {
        "username": username,
        "password": password,
        "resident_id_number": resident_id(),
        "display_name": "Chen Jing (陈静)",
        "phone": "+86 898 6666 0000",
    }
    status, registered, _ = await platform.request("POST", "/public/v1/accounts", json=body)
    assert status == 201, registered
    assert registered["display_name"] == "Chen Jing (陈静)"
    assert registered["phone"] == "+86 898 6666 0000"
    masked = domain.mask_identity_number(body["resident_id_number"])
    assert registered["resident_id_masked"] == masked
    token = await platform.login(username, password, entry="public")
    status, me, _ = await platform.request("GET", "/public/v1/me", token=token)
    assert status == 200 and me == registered


async def test_a_licence_status_change_answers_the_licence_as_its_issuer_reads_it(
    platform: Platform,
) -> None:
    psb = await platform.login("psb.officer")
    # one driving licence per person: the one the citizen holds is revoked first
    await revoke_held_licences(
        platform,
        "driving_licence",
        holder=await platform.login("demo.citizen", entry="public"),
        issuer=psb,
    )
    fields = sample_fields("driving_licence", people.CITIZEN.resident_id)
    status, issued, _ = await platform.request(
        "POST",
        "/office/v1/licences",
        token=psb,
        json={"licence_type": "driving_licence", "fields": fields},
    )
    assert status == 201, issued
    for action in ("suspend", "resume", "revoke"):
        status, changed, _ = await platform.request(
            "POST",
            f"/office/v1/licences/{issued['id']}/{action}",
            token=psb,
            json={"reason": f"test: {action}"},
        )
        assert status == 200, changed
        status, read, _ = await platform.request(
            "GET", f"/office/v1/licences/{issued['id']}", token=psb
        )
        assert status == 200 and changed == read, action
        assert changed["fields"] == issued["fields"] and changed["claim_names"]


async def test_registering_an_enterprise_answers_it_as_the_representatives_list_shows_it(
    platform: Platform,
) -> None:
    citizen = await platform.login("demo.citizen", entry="public")
    status, registered, _ = await platform.request(
        "POST",
        "/public/v1/enterprises",
        token=citizen,
        json={"credit_code": credit_code(), "name": "海口测试科技有限公司 Haikou Test Tech"},
    )
    assert status == 201, registered
    status, mine, _ = await platform.request("GET", "/public/v1/me/enterprises", token=citizen)
    assert status == 200
    listed: dict[str, Any] = next(e for e in mine["enterprises"] if e["id"] == registered["id"])
    assert listed == registered
