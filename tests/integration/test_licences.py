"""Electronic licences end to end through the gateway: each department issues its own types to a
holder's account, the holder presents chosen claims in a QR presentation, verifiers check it
online and offline (the CLI), issuers suspend, resume, renew and revoke, and holders grant the use
of a licence to a department or partner, withdraw it, and see every use. Every refusal is
checked, and the audit chain records them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import Platform, eventually
from services.identity import demo as people
from services.licences import credential, identifier, verify_cli
from services.licences.demo import sample_fields

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


async def issue(platform: Platform, licence_type: str, **changes: str) -> dict[str, Any]:
    officer = await platform.login(f"{ISSUER[licence_type]}.officer")
    fields = {**sample_fields(licence_type, holder_number(licence_type)), **changes}
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
    assert licence["issuer_department"] == ISSUER[licence_type]

    # the holder sees it with its fields
    token = await holder_token(platform, licence_type)
    status, mine, _ = await platform.request("GET", f"{PUBLIC}/mine/{licence['id']}", token=token)
    assert status == 200 and mine["fields"] == licence["fields"]

    # when: the holder presents one claim
    claim = "owner" if licence_type == "vehicle_licence" else "name"
    shown = await present(platform, licence, [claim])

    # then: an online verifier sees that claim and no other
    verdict = await verify(platform, shown["presentation"])
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
    assert (await verify(platform, shown["presentation"]))["result"] == ("suspended")
    status, resumed = await act(platform, licence, "resume")
    assert status == 200 and resumed["status"] == "valid"
    assert (await verify(platform, shown["presentation"]))["result"] == "valid"

    # when: it is revoked, online verification and the published status list show it at once
    status, revoked = await act(platform, licence, "revoke", reason="依法吊销 revoked by law")
    assert status == 200 and revoked["status"] == "revoked"
    assert (await verify(platform, shown["presentation"]))["result"] == ("revoked")
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
