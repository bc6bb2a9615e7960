"""Electronic licences end to end through the gateway: each department issues its own types to a
holder's account, the holder presents chosen claims in a QR presentation, verifiers check it
online and offline (the CLI), issuers suspend, resume, renew and revoke, and holders grant the use
of a licence to a department or partner, withdraw it, and see every use. Every refusal is
checked, and the audit chain records them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from conftest import Platform, audit_records, eventually, remember_secret, revoke_held_licences
from runtime import grpcclient
from runtime.departments import DEPARTMENTS
from services.identity import demo as people
from services.licences import credential, identifier, verify_cli
from services.licences.demo import sample_fields
from services.licences.domain import CHINA
from services.licences.types import vin_check_digit
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc
from smartcity.licences.v1 import licences_pb2, licences_pb2_grpc

pytestmark = pytest.mark.integration

OFFICE = "/office/v1/licences"
PUBLIC = "/public/v1/licences"
ISSUER = {
    "id_card": "psb",
    "social_security_card": "hrss",
    "driving_licence": "psb",
    "vehicle_licence": "psb",
    "business_licence": "msa",
}


def holder_number(licence_type: str) -> str:
    if licence_type == "business_licence":
        return people.ENTERPRISE_CREDIT_CODE
    return people.CITIZEN.resident_id


async def holder_token(platform: Platform, licence_type: str) -> str:
    if licence_type == "business_licence":
        return await platform.login(
            "demo.enterprise", entry="public", enterprise_id=people.ENTERPRISE_ID
        )
    return await platform.login("demo.citizen", entry="public")


# The law allows a holder (a vehicle: its VIN) one of these at a time; a new ID card supersedes.
ONE_AT_A_TIME = ("driving_licence", "vehicle_licence", "business_licence")


async def held(platform: Platform, licence_type: str) -> list[dict[str, Any]]:
    """The holder's licences of this type that hold their place (valid or suspended)."""
    token = await holder_token(platform, licence_type)
    found = []
    for status in ("valid", "suspended"):
        code, page, _ = await platform.request(
            "GET",
            f"{PUBLIC}/mine",
            token=token,
            params={"licence_type": licence_type, "status": status, "page_size": "100"},
        )
        assert code == 200, page
        found += page["licences"]
    return found


async def make_room(platform: Platform, licence_type: str) -> None:
    """Revoke what the holder holds of a type the law allows once, so that a test issues anew."""
    await revoke_held_licences(
        platform,
        licence_type,
        holder=await holder_token(platform, licence_type),
        issuer=await platform.login(f"{ISSUER[licence_type]}.officer"),
    )


async def issue(
    platform: Platform, licence_type: str, *, room: bool = True, **changes: str
) -> dict[str, Any]:
    if room and licence_type in ONE_AT_A_TIME:
        await make_room(platform, licence_type)
    officer = await platform.login(f"{ISSUER[licence_type]}.officer")
    fields = {**sample_fields(licence_type, holder_number(licence_type)), **changes}
    # a licence's contents never reach a log or a span (checked at the end of the session)
    personal = ("id_number", "owner_id_number", "name", "owner", "address", "card_number")
    remember_secret(*(v for k, v in fields.items() if k in personal))
    status, body, headers = await platform.request(
        "POST", OFFICE, token=officer, json={"licence_type": licence_type, "fields": fields}
    )
    assert status == 201, body
    assert headers["Location"].endswith(body["id"])
    return dict(body)


async def present(
    platform: Platform, licence: dict[str, Any], disclose: list[str], **extra: Any
) -> dict[str, Any]:
    token = await holder_token(platform, licence["licence_type"])
    status, body, headers = await platform.request(
        "POST",
        f"{PUBLIC}/mine/{licence['id']}/presentations",
        token=token,
        json={"disclose": disclose, **extra},
    )
    assert status == 201, body
    assert headers["Cache-Control"] == "no-store"
    remember_secret(body["presentation"])  # a bearer credential for minutes
    return dict(body)


async def verify(
    platform: Platform, text: str, *, token: str | None = None, entry: str = "public"
) -> dict[str, Any]:
    status, body, _ = await platform.request(
        "POST", f"/{entry}/v1/licences/verify", token=token, json={"presentation": text}
    )
    assert status == 200, body
    return dict(body)


async def act(platform: Platform, licence: dict[str, Any], action: str, **body: Any) -> Any:
    officer = await platform.login(f"{ISSUER[licence['licence_type']]}.officer")
    status, reply, _ = await platform.request(
        "POST", f"{OFFICE}/{licence['id']}/{action}", token=officer, json=body
    )
    return status, reply


def offline(
    tmp_path: Path, platform: Platform, capsys: pytest.CaptureFixture[str], text: str
) -> tuple[int, dict[str, Any]]:
    """The CLI verifier, fully offline with the lists it fetched from the gateway."""
    folder = tmp_path / "lists"
    assert verify_cli.run(["fetch", "--gateway", platform.url, "--out", str(folder)]) == 0
    capsys.readouterr()
    args = [
        "verify",
        "--offline",
        "--json",
        "--trust-list",
        str(folder / "trust-list.json"),
        "--status-list",
        str(folder / "status-list.txt"),
        text,
    ]
    code = verify_cli.run(args)
    return code, json.loads(capsys.readouterr().out)


# --- the whole life of each licence type -----------------------------------------------------


@pytest.mark.parametrize("licence_type", list(ISSUER))
async def test_each_licence_type_is_issued_held_presented_verified_and_revoked(
    platform: Platform, licence_type: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: the department issues a licence of its type
    licence = await issue(platform, licence_type)
    parsed = identifier.parse(licence["id"])
    assert parsed.version == 1 and licence["status"] == "valid"
    # its identifier is of the national form: the type's national code, the issuer's credit code
    status, listed, _ = await platform.request("GET", f"{PUBLIC}/types")
    assert status == 200, listed
    kind = next(t for t in listed["licence_types"] if t["key"] == licence_type)
    assert parsed.type_code == kind["code"] == kind["defining_authority_code"] + parsed.type_number
    assert parsed.issuer_code == DEPARTMENTS[ISSUER[licence_type]].credit_code
    assert licence["issuer_department"] == ISSUER[licence_type]

    # the holder sees it with its fields
    token = await holder_token(platform, licence_type)
    status, mine, _ = await platform.request("GET", f"{PUBLIC}/mine/{licence['id']}", token=token)
    assert status == 200 and mine["fields"] == licence["fields"]

    # when: the holder presents one claim
    claim = "owner" if licence_type == "vehicle_licence" else "name"
    shown = await present(platform, licence, [claim])

    # then: an online verifier sees that claim and no other (a signed-in one: as its first
    # verifier it may check the same presentation again below)
    checker = await platform.login("msa.officer")
    verdict = await verify(platform, shown["presentation"], token=checker, entry="office")
    assert verdict["result"] == "valid", verdict
    assert verdict["disclosed"] == {claim: licence["fields"][claim]}
    assert verdict["licence_id"] == licence["id"]

    # and the CLI verifies it offline with the published keys and status list
    code, out = offline(tmp_path, platform, capsys, shown["presentation"])
    assert code == 0 and out["result"] == "valid", out
    assert out["disclosed"] == {claim: mine["fields"][claim]}

    # when: the issuer suspends it, verifiers see it at once; resumed, valid again
    status, suspended = await act(platform, licence, "suspend", reason="挂失 reported lost")
    assert status == 200 and suspended["status"] == "suspended", suspended
    assert (await verify(platform, shown["presentation"], token=checker, entry="office"))[
        "result"
    ] == ("suspended")
    status, resumed = await act(platform, licence, "resume")
    assert status == 200 and resumed["status"] == "valid"
    assert (await verify(platform, shown["presentation"], token=checker, entry="office"))[
        "result"
    ] == "valid"

    # when: it is revoked, online verification and the published status list show it at once
    status, revoked = await act(platform, licence, "revoke", reason="依法吊销 revoked by law")
    assert status == 200 and revoked["status"] == "revoked"
    assert (await verify(platform, shown["presentation"], token=checker, entry="office"))[
        "result"
    ] == ("revoked")
    code, out = offline(tmp_path, platform, capsys, shown["presentation"])
    assert code == 1 and out["result"] == "revoked"

    # and a revoked licence is neither presented nor changed again
    token = await holder_token(platform, licence_type)
    status, body, _ = await platform.request(
        "POST", f"{PUBLIC}/mine/{licence['id']}/presentations", token=token, json={}
    )
    assert status == 409 and "revoked" in body["detail"]
    status, body = await act(platform, licence, "resume")
    assert status == 409, body


# --- selective disclosure ----------------------------------------------------------------------


async def test_a_presentation_reveals_only_the_chosen_claims(platform: Platform) -> None:
    # given: an ID card, presented as "over 18" only
    licence = await issue(platform, "id_card")
    shown = await present(platform, licence, ["age_over_18"])
    assert shown["disclosed"] == ["age_over_18"]

    # then: the verifier learns that, and nothing else
    verdict = await verify(platform, shown["presentation"])
    assert verdict["result"] == "valid" and verdict["disclosed"] == {"age_over_18": "true"}

    # and the QR text carries the other claims only as salted digests
    text = shown["presentation"]
    parsed = credential.parse_presentation(text)
    assert [d.name for d in parsed.disclosures] == ["age_over_18"]
    readable = json.dumps(parsed.credential.payload, ensure_ascii=False) + text
    for value in (people.CITIZEN.resident_id, "李明", licence["fields"]["address"]):
        assert value not in readable
    assert len(parsed.credential.payload["_sd"]) == len(licence["claim_names"])

    # and a claim the licence lacks, or a lifetime out of range, is refused precisely
    token = await holder_token(platform, "id_card")
    path = f"{PUBLIC}/mine/{licence['id']}/presentations"
    status, body, _ = await platform.request(
        "POST", path, token=token, json={"disclose": ["salary"]}
    )
    assert status == 422 and body["errors"][0]["field"] == "disclose", body
    status, body, _ = await platform.request("POST", path, token=token, json={"ttl_seconds": 3600})
    assert status == 422 and body["errors"][0]["field"] == "ttl_seconds", body


# --- refusals ------------------------------------------------------------------------------------


async def test_altered_forged_and_malformed_presentations_are_refused(platform: Platform) -> None:
    licence = await issue(platform, "driving_licence")
    shown = await present(platform, licence, ["name", "vehicle_class"])
    text = shown["presentation"]
    credential_part, *disclosures, binding = text.split("~")

    # a disclosure dropped after the binding was made
    dropped = "~".join([credential_part, disclosures[0], binding])
    assert (await verify(platform, dropped))["result"] == "forged"

    # the credential's validity moved on, the issuer's signature kept
    payload, signature = credential_part.split(".", 1)
    claims = json.loads(credential.unb64u(payload))
    claims["exp"] = "2099-12-31"
    altered = credential.b64u(credential.canonical(claims)) + "." + signature
    verdict = await verify(platform, "~".join([altered, *disclosures, binding]))
    assert verdict["result"] == "forged", verdict

    # the binding of another presentation of the same licence, revealing less
    other = await present(platform, licence, ["vehicle_class"])
    swapped = "~".join([credential_part, *disclosures, other["presentation"].rsplit("~", 1)[1]])
    assert (await verify(platform, swapped))["result"] == "forged"

    # text that is no presentation at all, and an over-long one
    verdict = await verify(platform, "not a presentation")
    assert verdict["result"] == "malformed" and verdict["reason"], verdict
    status, body, _ = await platform.request(
        "POST", f"{PUBLIC}/verify", json={"presentation": "x" * 9000}
    )
    assert status == 422 and body["errors"][0]["field"] == "presentation"

    # the untouched presentation still verifies
    assert (await verify(platform, text))["result"] == "valid"


async def test_a_presentation_verified_anonymously_is_replayed_to_anyone_after(
    platform: Platform,
) -> None:
    licence = await issue(platform, "social_security_card")
    text = (await present(platform, licence, ["card_number"]))["presentation"]
    # given: someone verifies it at the public entry, signed in as nobody
    first = await verify(platform, text)
    assert first["result"] == "valid" and first["disclosed"], first
    # then: shown again there (a copied QR code), or to a department, it is replayed
    again = await verify(platform, text)
    assert again["result"] == "replayed" and not again["disclosed"], again
    staff = await platform.login("hrss.officer")
    assert (await verify(platform, text, token=staff, entry="office"))["result"] == "replayed"
    # and the holder's log shows the one verification, by an anonymous verifier
    token = await holder_token(platform, "social_security_card")

    async def uses() -> list[tuple[str, str]]:
        status, page, _ = await platform.request(
            "GET", f"{PUBLIC}/uses", token=token, params={"licence_id": licence["id"]}
        )
        assert status == 200, page
        return [(u["kind"], u["user"]) for u in page["uses"]]

    assert await uses() == [("verified", "anonymous")]


async def test_a_presentation_belongs_to_its_first_online_verifier(platform: Platform) -> None:
    licence = await issue(platform, "social_security_card")
    text = (await present(platform, licence, ["card_number"]))["presentation"]

    # given: a department verifies it, and may check it again
    staff = await platform.login("msa.officer")
    assert (await verify(platform, text, token=staff, entry="office"))["result"] == "valid"
    assert (await verify(platform, text, token=staff, entry="office"))["result"] == "valid"

    # then: anyone else showing the same presentation is told it is replayed
    partner = await platform.login("demo.partner", entry="partner")
    replayed = await verify(platform, text, token=partner, entry="partner")
    assert replayed["result"] == "replayed" and not replayed["disclosed"], replayed
    assert (await verify(platform, text))["result"] == "replayed"

    # and the holder's log names the department that verified, once
    token = await holder_token(platform, "social_security_card")
    status, page, _ = await platform.request(
        "GET", f"{PUBLIC}/uses", token=token, params={"licence_id": licence["id"]}
    )
    assert status == 200
    assert [(u["kind"], u["user"], u["claims"]) for u in page["uses"]] == [
        ("verified", "department:msa", ["card_number"])
    ]

    # and the refusals reached the audit chain
    auditor = await platform.login("bdb.auditor")
    presentation_id = replayed["presentation_id"]

    async def refused() -> list[str]:
        records = await audit_records(platform, auditor, presentation_id)
        return [r["record"]["action"] for r in records if r["record"]["outcome"] == "denied"]

    assert len(await eventually(refused, timeout=15)) >= 1


async def test_an_issuer_issues_only_its_own_types_with_valid_fields(platform: Platform) -> None:
    # an HRSS issuer may not issue a driving licence (the public security bureau's)
    hrss = await platform.login("hrss.officer")
    fields = sample_fields("driving_licence", people.CITIZEN.resident_id)
    status, body, _ = await platform.request(
        "POST", OFFICE, token=hrss, json={"licence_type": "driving_licence", "fields": fields}
    )
    assert status == 403 and "psb" in body["detail"], body

    # fields are checked against the type's schema, every problem at once
    psb = await platform.login("psb.officer")
    bad = {**fields, "birth_date": "1991-01-01", "vehicle_class": "Z9", "colour": "red"}
    status, body, _ = await platform.request(
        "POST", OFFICE, token=psb, json={"licence_type": "driving_licence", "fields": bad}
    )
    assert status == 422, body
    rules = {(e["field"], e.get("rule", "")) for e in body["errors"]}
    assert {f for f, _ in rules} >= {"fields.birth_date", "fields.vehicle_class", "fields"}

    # an unknown type, and a holder without an account
    status, body, _ = await platform.request(
        "POST", OFFICE, token=psb, json={"licence_type": "passport", "fields": {}}
    )
    assert status == 422 and body["errors"][0]["field"] == "licence_type"
    stranger = sample_fields("driving_licence", _unregistered_id())
    status, body, _ = await platform.request(
        "POST", OFFICE, token=psb, json={"licence_type": "driving_licence", "fields": stranger}
    )
    assert status == 409 and "account" in body["detail"], body

    # Idempotency-Key: the same request issues one licence
    await make_room(platform, "driving_licence")
    headers = {"Idempotency-Key": f"idem-{time.time_ns()}"}
    body = {"licence_type": "driving_licence", "fields": fields}
    first = await platform.request("POST", OFFICE, token=psb, json=body, headers=headers)
    again = await platform.request("POST", OFFICE, token=psb, json=body, headers=headers)
    assert first[0] == 201 and again[0] == 201 and first[1]["id"] == again[1]["id"]


def _unregistered_id() -> str:
    from runtime import identifiers

    first17 = "46010519700101" + "555"
    return first17 + identifiers.resident_id_check_char(first17)


async def test_nobody_reads_another_holders_licence_and_identifiers_are_checked(
    platform: Platform,
) -> None:
    licence = await issue(platform, "driving_licence")
    # the enterprise agent is a citizen too, but not this licence's holder
    agent = await platform.login("demo.enterprise", entry="public")
    status, _, _ = await platform.request("GET", f"{PUBLIC}/mine/{licence['id']}", token=agent)
    assert status == 404
    status, _, _ = await platform.request(
        "POST", f"{PUBLIC}/mine/{licence['id']}/presentations", token=agent, json={}
    )
    assert status == 404
    # another department's issuer neither reads nor changes it
    msa = await platform.login("msa.officer")
    status, _, _ = await platform.request("GET", f"{OFFICE}/{licence['id']}", token=msa)
    assert status == 404
    status, _, _ = await platform.request(
        "POST", f"{OFFICE}/{licence['id']}/revoke", token=msa, json={"reason": "x"}
    )
    assert status in (403, 404)

    # a wrong check character is refused as such
    wrong = licence["id"][:-1] + ("0" if licence["id"][-1] != "0" else "1")
    token = await holder_token(platform, "driving_licence")
    status, body, _ = await platform.request("GET", f"{PUBLIC}/mine/{wrong}", token=token)
    assert status == 422 and "check character" in body["errors"][0]["detail"], body
    assert body["errors"][0]["rule"] == "licence-identifier-check", body

    # a field of the identifier that is wrong is named: a division code that is none
    parsed = identifier.parse(licence["id"])
    fields = f"{parsed.type_code}999999{parsed.serial}001"
    bad_issuer = f"{identifier.PREFIX}.{parsed.type_code}.999999.{parsed.serial}.001."
    bad_issuer += identifier.check_char(fields)
    status, body, _ = await platform.request("GET", f"{PUBLIC}/mine/{bad_issuer}", token=token)
    assert status == 422, body
    error = body["errors"][0]
    assert error["field"] == "id" and error["rule"] == "licence-identifier-issuer-code", body
    assert error["detail"].startswith("the issuer code"), body
    # the former layout is refused by its type code
    former = "1.2.156.3005.2.JDCJSZ.11460100MB0A10021G.0000000001.01.5"
    status, body, _ = await platform.request("GET", f"{PUBLIC}/mine/{former}", token=token)
    assert status == 422 and body["errors"][0]["rule"] == "licence-identifier-type-code", body
    # another issuer's identifier (housing ministry type, a Hefei issuer) is well formed: it is
    # simply not a licence of this platform
    other = "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9"
    status, body, _ = await platform.request("GET", f"{PUBLIC}/mine/{other}", token=token)
    assert status == 404, body

    # and the refused reads are audited against the licence
    auditor = await platform.login("bdb.auditor")

    async def refused() -> list[dict[str, Any]]:
        records = await audit_records(platform, auditor, licence["id"])
        denied = [r["record"] for r in records if r["record"]["outcome"] == "denied"]
        return denied if len(denied) >= 4 else []  # two reads, a presentation, a revocation

    denied = await eventually(refused, timeout=15)
    assert {r["actor_type"] for r in denied} == {"citizen", "staff"}


# --- one licence per holder --------------------------------------------------------------------


async def test_a_new_id_card_supersedes_the_old_which_verifies_as_superseded_with_the_reason(
    platform: Platform,
) -> None:
    old = await issue(platform, "id_card")
    text = (await present(platform, old, ["age_over_18"]))["presentation"]

    # when: the holder is issued a new card (补领 after a loss)
    officer = await platform.login("psb.officer")
    fields = sample_fields("id_card", holder_number("id_card"))
    status, new, _ = await platform.request(
        "POST",
        OFFICE,
        token=officer,
        json={"licence_type": "id_card", "fields": fields, "reason": "补领 reported lost"},
    )
    assert status == 201, new
    assert new["replaces_id"] == old["id"]
    assert identifier.parse(new["id"]).serial != identifier.parse(old["id"]).serial

    # then: one valid card: the old one is superseded, and verifiers are told why
    assert [c["id"] for c in await held(platform, "id_card")] == [new["id"]]
    token = await holder_token(platform, "id_card")
    status, read, _ = await platform.request("GET", f"{PUBLIC}/mine/{old['id']}", token=token)
    assert read["status"] == "superseded" and read["superseded_by_id"] == new["id"], read
    assert read["status_reason"] == "补领 reported lost"
    verdict = await verify(platform, text)
    assert verdict["result"] == "superseded", verdict
    assert verdict["reason"] == "the licence is superseded: 补领 reported lost", verdict


@pytest.mark.parametrize("licence_type", ONE_AT_A_TIME)
async def test_a_second_licence_the_law_allows_once_is_refused_naming_the_one_that_holds(
    platform: Platform, licence_type: str
) -> None:
    first = await issue(platform, licence_type)
    officer = await platform.login(f"{ISSUER[licence_type]}.officer")
    fields = sample_fields(licence_type, holder_number(licence_type))
    status, body, _ = await platform.request(
        "POST", OFFICE, token=officer, json={"licence_type": licence_type, "fields": fields}
    )
    assert status == 409, body
    assert first["id"] in body["detail"] and "renew" in body["detail"], body
    # a renewal is no second licence; a revoked one holds nothing any more
    status, renewed = await act(platform, first, "renew", reason="换证")
    assert status == 201, renewed
    assert [h["id"] for h in await held(platform, licence_type)] == [renewed["id"]]


async def test_concurrent_issuances_for_one_vehicle_cannot_both_win(platform: Platform) -> None:
    # given: a vehicle that has no licence yet (its own VIN)
    body = "LSVAM4187C" + f"{time.time_ns() % 10**7:07d}"
    vin = body[:8] + vin_check_digit(body[:8] + "0" + body[9:]) + body[9:]
    fields = {**sample_fields("vehicle_licence", holder_number("vehicle_licence")), "vin": vin}
    officer = await platform.login("psb.officer")

    async def attempt() -> tuple[int, Any]:
        status, reply, _ = await platform.request(
            "POST",
            OFFICE,
            token=officer,
            json={"licence_type": "vehicle_licence", "fields": fields},
        )
        return status, reply

    # when: two issuances for it race
    results = await asyncio.gather(attempt(), attempt(), attempt())
    # then: exactly one is issued; the others are told which licence holds
    won = [r for s, r in results if s == 201]
    assert len(won) == 1, results
    refused = [(s, r) for s, r in results if s != 201]
    assert all(s == 409 and won[0]["id"] in r["detail"] for s, r in refused), results


# --- catalogue information (GB/T 36902) ---------------------------------------------------------


async def test_a_licence_is_exported_as_catalogue_information_to_its_holder_and_grantees(
    platform: Platform,
) -> None:
    licence = await issue(platform, "driving_licence")
    fields = licence["fields"]
    token = await holder_token(platform, "driving_licence")

    # the holder exports it in the GB/T 36902 form
    status, record, headers = await platform.request(
        "GET", f"{PUBLIC}/mine/{licence['id']}/metadata", token=token
    )
    assert status == 200, record
    assert headers["Cache-Control"] == "no-store"
    parsed = identifier.parse(licence["id"])
    psb = DEPARTMENTS["psb"]
    assert psb.credit_code == parsed.issuer_code
    assert {k: v for k, v in record.items() if k != "surface"} == {
        "licence_name": "机动车驾驶证",
        "licence_number": fields["id_number"],
        "licence_identifier": licence["id"],
        "type_code": parsed.type_code,
        "defining_authority": "公安部 Ministry of Public Security",
        "defining_authority_code": parsed.type_authority,
        "holder_name": fields["name"],
        "holder_id_type": "公民身份号码",
        "holder_id_number": fields["id_number"],
        "issuing_organisation": psb.name,
        "issuing_organisation_code": parsed.issuer_code,
        "issue_date": datetime.now(UTC).astimezone(CHINA).date().isoformat(),
        "valid_from": fields["valid_from"],
        "valid_until": fields["valid_until"],
        "status": "valid",
    }
    assert record["surface"]["准驾车型"] == fields["vehicle_class"]
    assert record["surface"]["证号"] == fields["id_number"]

    # nobody else does: another citizen, an issuer through the holder's route
    agent = await platform.login("demo.enterprise", entry="public")
    status, _, _ = await platform.request(
        "GET", f"{PUBLIC}/mine/{licence['id']}/metadata", token=agent
    )
    assert status == 404

    # a grantee exports it as far as its grant reaches: here the class, not the holder's number
    status, grant, _ = await platform.request(
        "POST",
        f"{PUBLIC}/grants",
        token=token,
        json={
            "licence_id": licence["id"],
            "grantee": "partner:demo.partner",
            "purpose": "租车 car rental",
            "claims": ["name", "vehicle_class"],
            "not_after": _in(600),
        },
    )
    assert status == 201, grant
    partner = await platform.login("demo.partner", entry="partner")
    status, shared, _ = await platform.request(
        "GET", f"/partner/v1/licences/grants/{grant['id']}/metadata", token=partner
    )
    assert status == 200, shared
    assert shared["holder_name"] == fields["name"] and shared["licence_identifier"] == licence["id"]
    assert not shared.get("holder_id_number") and not shared.get("licence_number"), shared
    assert shared["surface"] == {"姓名": fields["name"], "准驾车型": fields["vehicle_class"]}
    # another party may not use that grant
    staff = await platform.login("psb.officer")
    status, _, _ = await platform.request(
        "GET", f"{OFFICE}/grants/{grant['id']}/metadata", token=staff
    )
    assert status == 404
    # and the holder sees the export in their log
    status, page, _ = await platform.request(
        "GET", f"{PUBLIC}/uses", token=token, params={"licence_id": licence["id"]}
    )
    assert status == 200, page
    assert ("exported", "partner:demo.partner") in [(u["kind"], u["user"]) for u in page["uses"]]


# --- renewal -------------------------------------------------------------------------------------


async def test_a_renewal_supersedes_the_old_version(platform: Platform) -> None:
    licence = await issue(platform, "driving_licence")
    old_text = (await present(platform, licence, ["vehicle_class"]))["presentation"]

    # when: the issuer renews it with a new vehicle class
    fields = {**licence["fields"], "vehicle_class": "B1"}
    status, renewed = await act(platform, licence, "renew", fields=fields, reason="增驾")
    assert status == 201, renewed
    assert identifier.parse(renewed["id"]).version == 2
    assert identifier.parse(renewed["id"]).serial == identifier.parse(licence["id"]).serial
    assert renewed["replaces_id"] == licence["id"] and renewed["fields"]["vehicle_class"] == "B1"

    # then: the old version is superseded, and its presentations say so
    token = await holder_token(platform, "driving_licence")
    status, old, _ = await platform.request("GET", f"{PUBLIC}/mine/{licence['id']}", token=token)
    assert old["status"] == "superseded" and old["superseded_by_id"] == renewed["id"]
    assert (await verify(platform, old_text))["result"] == "superseded"
    new_text = (await present(platform, renewed, ["vehicle_class"]))["presentation"]
    verdict = await verify(platform, new_text)
    assert verdict["result"] == "valid" and verdict["disclosed"] == {"vehicle_class": "B1"}

    # a renewal keeps the holder, and a superseded version is not renewed again
    other = {**fields, "id_number": _unregistered_id()}
    status, body = await act(platform, renewed, "renew", fields=other)
    assert status == 422, body
    status, body = await act(platform, licence, "renew")
    assert status == 409, body


# --- use authorisation ---------------------------------------------------------------------------


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def test_a_holder_grants_withdraws_and_sees_every_use(platform: Platform) -> None:
    licence = await issue(platform, "business_licence")
    agent = await holder_token(platform, "business_licence")

    async def grant(grantee: str, **extra: Any) -> tuple[int, Any]:
        body = {
            "licence_id": licence["id"],
            "grantee": grantee,
            "purpose": "开立对公账户 opening a business account",
            "claims": ["name", "credit_code"],
            "not_after": _in(3600),
            **extra,
        }
        status, reply, _ = await platform.request(
            "POST", f"{PUBLIC}/grants", token=agent, json=body
        )
        return status, reply

    # given: the enterprise lets a partner bank read its name and credit code for an hour
    status, to_bank = await grant("partner:demo.partner")
    assert status == 201 and to_bank["state"] == "active", to_bank
    partner = await platform.login("demo.partner", entry="partner")

    # then: the bank reads exactly those claims, and the use is logged
    status, got, _ = await platform.request(
        "GET", f"/partner/v1/licences/grants/{to_bank['id']}/licence", token=partner
    )
    assert status == 200, got
    assert got["claims"] == {
        "name": licence["fields"]["name"],
        "credit_code": licence["fields"]["credit_code"],
    }
    assert got["status"] == "valid"
    status, received, _ = await platform.request(
        "GET", "/partner/v1/licences/grants", token=partner
    )
    assert to_bank["id"] in [g["id"] for g in received["use_grants"]]

    # another party may not use that grant
    staff = await platform.login("psb.officer")
    status, _, _ = await platform.request(
        "GET", f"{OFFICE}/grants/{to_bank['id']}/licence", token=staff
    )
    assert status == 404

    # a grant whose window has not opened, and one to a department for the office entry point
    status, later = await grant("department:psb", not_before=_in(600), not_after=_in(1200))
    assert status == 201 and later["state"] == "pending"
    status, body, _ = await platform.request(
        "GET", f"{OFFICE}/grants/{later['id']}/licence", token=staff
    )
    assert status == 403 and "not opened" in body["detail"]

    # when: the holder withdraws the bank's grant, it ends at once
    status, withdrawn, _ = await platform.request(
        "POST", f"{PUBLIC}/grants/{to_bank['id']}/withdraw", token=agent
    )
    assert status == 200 and withdrawn["state"] == "withdrawn"
    status, body, _ = await platform.request(
        "GET", f"/partner/v1/licences/grants/{to_bank['id']}/licence", token=partner
    )
    assert status == 403 and "withdrew" in body["detail"]

    # and the holder sees who used which licence, when, for what
    status, page, _ = await platform.request(
        "GET", f"{PUBLIC}/uses", token=agent, params={"licence_id": licence["id"]}
    )
    assert [(u["kind"], u["user"], u["grant_id"]) for u in page["uses"]] == [
        ("retrieved", "partner:demo.partner", to_bank["id"])
    ]

    # bad grants are refused precisely
    for extra, field in (
        ({"grantee": "someone"}, "grantee"),
        ({"purpose": ""}, "purpose"),
        ({"not_after": _in(-60)}, "not_after"),
        ({"not_after": _in(200 * 86400)}, "not_after"),
        ({"claims": ["salary"]}, "claims"),
    ):
        grantee = extra.pop("grantee", "partner:demo.partner")
        status, body = await grant(grantee, **extra)
        assert status == 422 and body["errors"][0]["field"].endswith(field), (extra, body)


async def test_a_grant_off_the_calendar_is_refused_and_the_grantees_list_still_answers(
    platform: Platform,
) -> None:
    # T25: a grant opening in 9999 was stored, ending past 9999; the grantee's list then
    # answered 500 for good. A time in year 1 east of UTC was a 500 on the spot.
    licence = await issue(platform, "driving_licence")
    token = await holder_token(platform, "driving_licence")
    base = {
        "licence_id": licence["id"],
        "grantee": "partner:demo.partner",
        "purpose": "租车 car rental",
        "claims": ["name"],
    }
    for not_before in ("9999-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00"):
        status, problem, _ = await platform.request(
            "POST", f"{PUBLIC}/grants", token=token, json={**base, "not_before": not_before}
        )
        assert status == 422, (not_before, problem)
        assert [v["field"] for v in problem["errors"]] == ["not_before"], problem
    partner = await platform.login("demo.partner", entry="partner")
    status, received, _ = await platform.request(
        "GET", "/partner/v1/licences/grants", token=partner
    )
    assert status == 200, received


async def test_a_licence_already_past_its_last_day_is_not_issued(platform: Platform) -> None:
    hrss = await platform.login("hrss.officer")
    fields = {
        **sample_fields("social_security_card", people.CITIZEN.resident_id),
        "valid_from": "2010-01-01",
        "valid_until": "2020-01-01",
    }
    status, body, _ = await platform.request(
        "POST",
        OFFICE,
        token=hrss,
        json={"licence_type": "social_security_card", "fields": fields},
    )
    assert status == 422, body
    assert body["errors"][0]["field"] == "fields.valid_until"


async def test_a_departments_own_system_issues_its_licences_over_grpc(platform: Platform) -> None:
    # given: the Bureau registers psb's licensing system, holding the licence_issuer role
    admin = await platform.login("bdb.admin")

    async def system(client_id: str, department: str, roles: list[str]) -> str:
        status, created, _ = await platform.request(
            "POST",
            "/office/v1/clients",
            token=admin,
            json={
                "client_id": client_id,
                "kind": "service",
                "department": department,
                "roles": roles,
            },
        )
        assert status == 201, created
        remember_secret(created["client_secret"])
        reply = await identity.Login(
            identity_pb2.LoginRequest(
                username=client_id, password=created["client_secret"], audience="service"
            ),
            timeout=5,
        )
        return str(reply.access_token)

    suffix = uuid.uuid4().hex[:8]
    identity_channel = grpcclient.channel(platform.settings.grpc_target("identity"))
    licences_channel = grpcclient.channel(platform.settings.grpc_target("licences"))
    identity = identity_pb2_grpc.IdentityServiceStub(identity_channel)
    licences = licences_pb2_grpc.LicencesServiceStub(licences_channel)
    try:
        psb_system = await system(f"psb-licensing-{suffix}", "psb", ["licence_issuer"])
        psb_sync = await system(f"psb-sync-{suffix}", "psb", [])

        async def issue_as(token: str, licence_type: str) -> Any:
            request = licences_pb2.IssueLicenceRequest(
                licence_type=licence_type,
                fields=sample_fields(licence_type, holder_number(licence_type)),
            )
            return await licences.IssueLicence(
                request, metadata=(("authorization", f"Bearer {token}"),), timeout=10
            )

        # then: it issues a driving licence, signed with psb's key like any other
        await make_room(platform, "driving_licence")
        reply = await issue_as(psb_system, "driving_licence")
        assert reply.licence.issuer_department == "psb"
        shown = await present(
            platform, {"id": reply.licence.id, "licence_type": "driving_licence"}, ["vehicle_class"]
        )
        assert (await verify(platform, shown["presentation"]))["result"] == "valid"

        # and neither another department's type nor a system without the role
        for token, licence_type in ((psb_system, "business_licence"), (psb_sync, "id_card")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await issue_as(token, licence_type)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await identity_channel.close()
        await licences_channel.close()

    # a partner or a member of staff cannot be given a role by the client registration
    status, body, _ = await platform.request(
        "POST",
        "/office/v1/clients",
        token=admin,
        json={
            "client_id": f"bank-{suffix}",
            "kind": "partner",
            "department": "msa",
            "roles": ["licence_issuer"],
        },
    )
    assert status == 422 and body["errors"][0]["field"] == "roles", body
