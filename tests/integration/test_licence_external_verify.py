"""Another platform's licences through this platform's gateway: its issuer, configured from a file
(`SMARTCITY_LICENCE_TRUSTED_ISSUERS`), is published in the signed trust list marked external,
and its holders' presentations verify online with its own platform's keys (valid, with the
revealed claims, and a note that its status list is not checked here). A second issuer is played
here with its own SM2 keys and GB/T 36904 identifiers; its keys vouch for nothing else."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from conftest import Platform, start_platform
from runtime import algorithms
from services.keys.domain import wrap
from services.licences import credential, identifier

pytestmark = pytest.mark.integration

PUBLIC = "/public/v1/licences"


@dataclass(frozen=True)
class Signer:
    """A key of the other platform: name, version, SM2 material."""

    name: str
    version: int
    material: bytes

    def sign(self, message: bytes) -> str:
        return wrap(self.name, self.version, algorithms.sign("sm2", self.material, message))

    def trusted(self) -> dict[str, Any]:
        pem = algorithms.public_key_pem("sm2", self.material).decode()
        return {
            "name": self.name,
            "version": self.version,
            "algorithm": "sm2",
            "public_key_pem": pem,
        }


HEFEI = Signer("hefei.licence-signing", 1, algorithms.generate("sm2"))
HEFEI_PLATFORM = Signer("hefei.platform-signing", 1, algorithms.generate("sm2"))
ROGUE = Signer("hefei.platform-signing", 1, algorithms.generate("sm2"))  # not in the file
HEFEI_CODE = "340100"  # Hefei's GB/T 2260 division code, as the issuer code
WUHAN = Signer("wuhan.licence-signing", 1, algorithms.generate("sm2"))
WUHAN_PLATFORM = Signer("wuhan.platform-signing", 1, algorithms.generate("sm2"))
TYPE_CODE = "11100000MB03271699022"


def licence_id(issuer_code: str = HEFEI_CODE) -> str:
    serial = uuid.uuid4().hex.upper()
    return str(identifier.build(type_code=TYPE_CODE, issuer_code=issuer_code, serial=serial))


def presentation(
    *,
    signer: Signer = HEFEI,
    binding: Signer = HEFEI_PLATFORM,
    issuer: str = "hefei",
    the_id: str | None = None,
) -> str:
    """A presentation as the other platform makes it for its holder: name and class revealed."""
    disclosures = credential.make_disclosures(
        {"name": "李四", "vehicle_class": "C1", "id_number": "340104199001011234"}
    )
    the_id = the_id or licence_id()
    payload = credential.credential_payload(
        licence_id=the_id,
        licence_type="driving_licence",
        issuer=issuer,
        holder_kind="citizen",
        issued_at=int(time.time()) - 86400,
        valid_from=date(2025, 1, 1),
        valid_until=date(2035, 6, 30),
        status_index=17,
        digests=[d.digest for d in disclosures],
    )
    cred = credential.compact(payload, signer.sign(credential.signing_input(payload)))
    prefix = credential.presentation_prefix(cred, [d.encoded for d in disclosures[:2]])
    now = int(time.time())
    bound = credential.binding_payload(
        prefix=prefix,
        presentation_id=str(uuid.uuid4()),
        licence_id=the_id,
        issued_at=now,
        expires_at=now + 300,
    )
    return prefix + credential.compact(bound, binding.sign(credential.binding_signing_input(bound)))


def entry(department: str, code: str, signer: Signer, platform_signer: Signer) -> dict[str, Any]:
    return {
        "department": department,
        "issuer_codes": [code],
        "licence_types": ["driving_licence"],
        "keys": [signer.trusted()],
        "platform_keys": [platform_signer.trusted()],
    }


@pytest_asyncio.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """A platform trusting two other platforms' issuers (Hefei's and Wuhan's)."""
    folder = tmp_path_factory.mktemp("external")
    trusted = folder / "trusted-issuers.json"
    trusted.write_text(
        json.dumps(
            {
                "issuers": [
                    entry("hefei", HEFEI_CODE, HEFEI, HEFEI_PLATFORM),
                    entry("wuhan", "420100", WUHAN, WUHAN_PLATFORM),
                ]
            }
        )
    )
    settings, env, supervisor = await start_platform(
        folder / "data", SMARTCITY_LICENCE_TRUSTED_ISSUERS=str(trusted)
    )
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            yield Platform(settings, env, supervisor, http)
    finally:
        await supervisor.stop_all()


async def verify(platform: Platform, text: str) -> dict[str, Any]:
    status, body, _ = await platform.request(
        "POST", f"{PUBLIC}/verify", json={"presentation": text}
    )
    assert status == 200, body
    return dict(body)


async def test_the_other_issuer_is_published_in_the_signed_trust_list_marked_external(
    platform: Platform,
) -> None:
    status, body, _ = await platform.request("GET", f"{PUBLIC}/trust-list")
    assert status == 200, body
    issuers = {i["department"]: i for i in body["issuers"]}
    hefei = issuers["hefei"]
    assert hefei["external"] is True and hefei["issuer_codes"] == [HEFEI_CODE]
    assert hefei["keys"] == [HEFEI.trusted()]
    assert hefei["platform_keys"] == [HEFEI_PLATFORM.trusted()]
    assert "external" not in issuers["psb"] and "platform_keys" not in issuers["psb"]
    # and the offline verifier reads it (the published list parses with its external entries)
    trust = credential.TrustList.from_json(body)
    assert trust.issuers["hefei"].external and not trust.issuers["psb"].external


async def test_another_platforms_presentation_verifies_online_with_its_status_unknown(
    platform: Platform,
) -> None:
    the_id = licence_id()
    verdict = await verify(platform, presentation(the_id=the_id))
    # not `valid`: its status list is on its own platform, so a verifier that accepts only
    # `valid` fails closed
    assert verdict["result"] == "unknown_status", verdict
    assert verdict["reason"].startswith("status_unknown:"), verdict
    assert verdict["issuer_department"] == "hefei" and verdict["licence_id"] == the_id
    assert verdict["disclosed"] == {"name": "李四", "vehicle_class": "C1"}
    # the office and partner verifiers answer alike (an officer here)
    officer = await platform.login("psb.officer")
    status, body, _ = await platform.request(
        "POST",
        "/office/v1/licences/verify",
        token=officer,
        json={"presentation": presentation()},
    )
    assert status == 200 and body["result"] == "unknown_status", body


async def test_a_key_not_in_the_file_and_keys_beyond_their_issuer_vouch_for_nothing(
    platform: Platform,
) -> None:
    # bound by a key the file does not list
    verdict = await verify(platform, presentation(binding=ROGUE))
    assert verdict["result"] == "forged", verdict
    # the issuer's licence signed by a key not in the file
    assert (await verify(platform, presentation(signer=ROGUE)))["result"] == "forged"
    # Hefei's keys claiming this platform's issuer, or Wuhan's
    for claimed in ("psb", "wuhan"):
        verdict = await verify(platform, presentation(issuer=claimed))
        assert verdict["result"] == "forged", (claimed, verdict)
    # Hefei's keys on an identifier of Wuhan's issuer code, or of this platform's psb
    verdict = await verify(platform, presentation(the_id=licence_id("420100")))
    assert verdict["result"] == "forged", verdict
    # Wuhan's licence bound by Hefei's platform
    verdict = await verify(
        platform,
        presentation(
            signer=WUHAN, binding=HEFEI_PLATFORM, issuer="wuhan", the_id=licence_id("420100")
        ),
    )
    assert verdict["result"] == "forged", verdict
    # and a second verifier of the same presentation is told it was replayed
    text = presentation()
    assert (await verify(platform, text))["result"] == "unknown_status"
    assert (await verify(platform, text))["result"] == "replayed"
