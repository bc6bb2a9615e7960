"""The licence credential format and its offline verification, with real SM2 keys: a valid
presentation reveals exactly the chosen claims, and every alteration, foreign part, untrusted key,
expired code or licence, status and stale or forged status list is refused with the right result
and a reason that carries no claim value. Also the status-list bit layout, zip-bomb refusal, a
fuzzed parser, an SM2 cross-check with `gmssl`, and the `smartcity licence` command."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl import sm2 as gmssl_sm2
from gmssl import sm3 as gmssl_sm3
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tongsuopy.crypto import serialization as tongsuo_serialization

from runtime import algorithms
from services.keys.domain import wrap
from services.licences import identifier, verify_cli
from services.licences.credential import (
    CHINA_STANDARD_TIME,
    MAX_PRESENTATION_CHARS,
    REVOKED,
    SUPERSEDED,
    SUSPENDED,
    VALID,
    CredentialError,
    Disclosure,
    PresentationAltered,
    TrustList,
    Verification,
    b64u,
    binding_payload,
    binding_signing_input,
    canonical,
    compact,
    credential_payload,
    decode_status_list,
    encode_status_list,
    make_disclosures,
    parse_credential,
    parse_disclosure,
    parse_presentation,
    parse_signature,
    parse_status_list,
    presentation_prefix,
    signing_input,
    sm3,
    status_list_payload,
    unb64u,
    verify_credential_signature,
    verify_offline,
)

# 2025-07-01 10:00 in Haikou.
NOW = datetime(2025, 7, 1, 10, 0, tzinfo=CHINA_STANDARD_TIME).timestamp()
LICENCE_ID = "460100-DL-2025-000123"
STATUS_INDEX = 5
CLAIMS: dict[str, object] = {
    "holder_name": "张三",
    "id_number": "460100199001011234",
    "vehicle_classes": ["C1", "D"],
    "age_over_18": True,
}


@dataclass(frozen=True)
class Signer:
    """A key as the keys service holds it: name, version, SM2 material; signs as it does."""

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


PSB = Signer("psb.licence-signing", 1, algorithms.generate("sm2"))
PSB_V2 = Signer("psb.licence-signing", 2, algorithms.generate("sm2"))  # not in the trust list
MARKET = Signer("amr.licence-signing", 1, algorithms.generate("sm2"))
PLATFORM = Signer("licences.platform-signing", 1, algorithms.generate("sm2"))
ROGUE = Signer("psb.licence-signing", 1, algorithms.generate("sm2"))  # a name it has no right to

TRUST_JSON: dict[str, Any] = {
    "issuers": [
        {
            "department": "psb",
            "licence_types": ["id_card", "driving_licence", "vehicle_licence"],
            "keys": [PSB.trusted()],
        },
        {"department": "amr", "licence_types": ["business_licence"], "keys": [MARKET.trusted()]},
    ],
    "platform": {"keys": [PLATFORM.trusted()]},
}
TRUST = TrustList.from_json(TRUST_JSON)


def issue(
    *,
    claims: Mapping[str, object] = CLAIMS,
    signer: Signer = PSB,
    issuer: str = "psb",
    licence_type: str = "driving_licence",
    licence_id: str = LICENCE_ID,
    valid_from: date = date(2025, 1, 1),
    valid_until: date | None = date(2031, 6, 30),
    status_index: int = STATUS_INDEX,
) -> tuple[str, list[Disclosure]]:
    """A credential as the licences service issues it, and its disclosures."""
    disclosures = make_disclosures(claims)
    payload = credential_payload(
        licence_id=licence_id,
        licence_type=licence_type,
        issuer=issuer,
        holder_kind="citizen",
        issued_at=int(NOW) - 86400,
        valid_from=valid_from,
        valid_until=valid_until,
        status_index=status_index,
        digests=[d.digest for d in disclosures],
    )
    return compact(payload, signer.sign(signing_input(payload))), disclosures


def present(
    credential: str,
    disclosures: Sequence[str],
    *,
    signer: Signer = PLATFORM,
    issued_at: float = NOW,
    life: int = 300,
    licence_id: str | None = None,
    presentation_id: str = "0b0c7c1e-5a2f-4c7e-9d1a-3f1e2d4c5b6a",
) -> str:
    """A presentation as the platform makes it for the holder."""
    prefix = presentation_prefix(credential, disclosures)
    payload = binding_payload(
        prefix=prefix,
        presentation_id=presentation_id,
        licence_id=licence_id or parse_credential(credential).payload["id"],
        issued_at=int(issued_at),
        expires_at=int(issued_at) + life,
    )
    return prefix + compact(payload, signer.sign(binding_signing_input(payload)))


def status_list(
    statuses: Mapping[int, int],
    *,
    size: int = 64,
    issued_at: float = NOW - 60,
    ttl: int = 3600,
    signer: Signer = PLATFORM,
) -> str:
    payload = status_list_payload(
        compressed=encode_status_list(statuses, size=size),
        issued_at=int(issued_at),
        ttl=ttl,
        sequence=7,
    )
    return compact(payload, signer.sign(sm3(payload)))


IN_FORCE = status_list({})


def verify(text: str, *, status: str | None = IN_FORCE, now: float = NOW) -> Verification:
    return verify_offline(text, trust=TRUST, status_list=status, now=now)


def refused(verification: Verification, result: str) -> Verification:
    """Asserts the result, and that the refusal reveals no claim."""
    assert verification.result == result, verification.reason
    assert verification.disclosed == {}
    for value in CLAIMS.values():
        assert str(value) not in verification.reason
    return verification


def swap_payload(signed: str, payload: dict[str, Any]) -> str:
    """`signed` with its payload replaced and its signature kept."""
    return b64u(canonical(payload)) + "." + signed.partition(".")[2]


@pytest.fixture(scope="module")
def licence() -> tuple[str, list[Disclosure]]:
    return issue()


# --- the valid path -------------------------------------------------------------------------


def test_valid_presentation_reveals_exactly_the_chosen_claims(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, disclosures = licence
    chosen = [d for d in disclosures if d.name in ("holder_name", "vehicle_classes")]
    text = present(credential, [d.encoded for d in chosen])

    verification = verify(text)

    assert verification.result == "valid", verification.reason
    assert verification.disclosed == {"holder_name": "张三", "vehicle_classes": ["C1", "D"]}
    assert (verification.licence_id, verification.licence_type, verification.issuer) == (
        LICENCE_ID,
        "driving_licence",
        "psb",
    )
    assert verification.presentation_id == "0b0c7c1e-5a2f-4c7e-9d1a-3f1e2d4c5b6a"
    assert verification.expires_at == int(NOW) + 300


def test_presentation_without_disclosures_is_credential_tilde_binding_and_reveals_nothing(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, _ = licence
    text = present(credential, [])

    assert text.count("~") == 1 and text.startswith(credential + "~")
    verification = verify(text)
    assert verification.result == "valid"
    assert verification.disclosed == {}


def test_presentation_parts_are_the_credential_disclosures_and_a_trailing_binding(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, disclosures = licence
    text = present(credential, [disclosures[0].encoded, disclosures[2].encoded])

    presentation = parse_presentation(text)

    parts = text.split("~")
    assert parts[0] == credential and parts[1:3] == [disclosures[0].encoded, disclosures[2].encoded]
    assert presentation.prefix == "~".join(parts[:3]) + "~"
    assert presentation.binding_payload["sd_hash"] == b64u(sm3(presentation.prefix.encode()))
    assert presentation.binding_payload["lid"] == LICENCE_ID
    assert presentation.credential.key_name == "psb.licence-signing"
    assert presentation.credential.key_version == 1
    assert verify_credential_signature(presentation.credential, TRUST) is None


def test_a_long_term_licence_never_expires() -> None:
    credential, disclosures = issue(valid_until=None)
    assert parse_credential(credential).payload["exp"] is None
    later = NOW + 40 * 365 * 86400
    text = present(credential, [disclosures[0].encoded], issued_at=later)

    status = status_list({}, issued_at=later - 60)
    assert verify(text, status=status, now=later).result == "valid"


def test_the_credential_payload_is_canonical_with_sorted_digests(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, disclosures = licence
    parsed = parse_credential(credential)

    assert parsed.payload_bytes == canonical(parsed.payload)
    assert b" " not in parsed.payload_bytes
    assert parsed.payload["_sd"] == sorted(d.digest for d in disclosures)
    assert set(parsed.payload) == {
        "v",
        "typ",
        "id",
        "lt",
        "iss",
        "hk",
        "iat",
        "nbf",
        "exp",
        "st",
        "sd_alg",
        "_sd",
    }
    for value in CLAIMS.values():
        assert orjson.dumps(value) not in parsed.payload_bytes


def test_disclosures_are_salted_arrays_digested_with_sm3() -> None:
    salts = iter([bytes(range(16)), bytes(range(16, 32))])
    made = make_disclosures(
        {"holder_name": "张三", "age_over_18": True}, random=lambda n: next(salts)
    )

    first = made[0]
    assert orjson.loads(unb64u(first.encoded)) == [b64u(bytes(range(16))), "holder_name", "张三"]
    # SM3 from an independent implementation.
    expected = bytes.fromhex(gmssl_sm3.sm3_hash(list(first.encoded.encode("ascii"))))
    assert first.digest == b64u(expected)
    assert parse_disclosure(first.encoded) == first
    assert [d.name for d in made] == ["holder_name", "age_over_18"]


def _gmssl(signer: Signer) -> gmssl_sm2.CryptSM2:
    numbers = tongsuo_serialization.load_der_private_key(signer.material, None).private_numbers()
    point = numbers.public_numbers
    public_hex = f"{point.x:064x}{point.y:064x}"
    verifier = gmssl_sm2.CryptSM2(private_key=f"{numbers.private_value:064x}", public_key="")
    verifier.public_key = public_hex  # gmssl's constructor mangles a leading "04"; set it whole
    return verifier


def test_issuer_signature_verifies_with_an_independent_sm2_implementation(
    licence: tuple[str, list[Disclosure]],
) -> None:
    parsed = parse_credential(licence[0])
    r, s = decode_dss_signature(parsed.der)

    message = signing_input(parsed.payload_bytes)
    assert _gmssl(PSB).verify_with_sm3(f"{r:064x}{s:064x}", message)
    assert not _gmssl(PSB).verify_with_sm3(f"{r:064x}{s:064x}", parsed.payload_bytes)


# --- refusals: alterations and foreign parts --------------------------------------------------


def test_altered_credential_payload_is_forged(licence: tuple[str, list[Disclosure]]) -> None:
    credential, disclosures = licence
    payload = dict(parse_credential(credential).payload, st=STATUS_INDEX + 1, lt="id_card")
    altered = swap_payload(credential, payload)
    # Even with a fresh, genuine platform binding over the altered credential.
    text = present(altered, [disclosures[0].encoded])

    verification = refused(verify(text), "forged")
    assert "issuer's signature does not verify" in verification.reason
    assert verification.licence_id == ""  # nothing reported from an unverified credential


def test_altered_payload_without_a_new_binding_is_an_altered_presentation(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, _ = licence
    text = present(credential, [])
    payload = dict(parse_credential(credential).payload, exp="2099-12-31")

    altered = swap_payload(credential, payload) + text[len(credential) :]

    assert refused(verify(altered), "forged").reason == "the presentation was altered"


def test_altered_disclosure_is_forged(licence: tuple[str, list[Disclosure]]) -> None:
    credential, disclosures = licence
    salt, name, _ = orjson.loads(unb64u(disclosures[3].encoded))
    lie = b64u(canonical([salt, name, False]))  # age_over_18: true, turned false

    verification = refused(verify(present(credential, [lie])), "forged")
    assert verification.reason == "a disclosure is not part of the licence"


def test_disclosure_from_another_licence_is_forged(licence: tuple[str, list[Disclosure]]) -> None:
    credential, _ = licence
    _, other = issue(licence_id="460100-DL-2025-000999", claims={"vehicle_classes": ["A1"]})

    verification = refused(verify(present(credential, [other[0].encoded])), "forged")
    assert verification.reason == "a disclosure is not part of the licence"


def test_dropped_binding_is_refused(licence: tuple[str, list[Disclosure]]) -> None:
    credential, disclosures = licence
    text = present(credential, [disclosures[0].encoded, disclosures[1].encoded])
    prefix = text[: text.rindex("~") + 1]

    refused(verify(prefix), "malformed")  # "<credential>~<d>~<d>~": an empty binding
    refused(verify(prefix[:-1]), "malformed")  # the last disclosure taken for a binding
    refused(verify(credential), "malformed")  # a bare credential is not a presentation


def test_binding_from_another_presentation_is_forged(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, disclosures = licence
    shown = present(credential, [disclosures[0].encoded])
    other = present(credential, [disclosures[1].encoded])

    spliced = shown[: shown.rindex("~") + 1] + other[other.rindex("~") + 1 :]

    with pytest.raises(PresentationAltered):
        parse_presentation(spliced)
    assert refused(verify(spliced), "forged").reason == "the presentation was altered"


def test_dropping_or_adding_a_disclosure_after_binding_is_forged(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, disclosures = licence
    text = present(credential, [disclosures[0].encoded, disclosures[1].encoded])
    binding = text[text.rindex("~") + 1 :]

    dropped = presentation_prefix(credential, [disclosures[0].encoded]) + binding
    added = presentation_prefix(credential, [d.encoded for d in disclosures[:3]]) + binding

    refused(verify(dropped), "forged")
    refused(verify(added), "forged")


def test_binding_for_another_licence_is_forged(licence: tuple[str, list[Disclosure]]) -> None:
    credential, _ = licence
    text = present(credential, [], licence_id="460100-DL-2025-000999")

    assert refused(verify(text), "forged").reason == "the binding belongs to another licence"


def test_duplicate_disclosures_are_malformed(licence: tuple[str, list[Disclosure]]) -> None:
    credential, disclosures = licence

    twice = present(credential, [disclosures[0].encoded, disclosures[0].encoded])

    assert "twice" in refused(verify(twice), "malformed").reason


def test_two_disclosures_of_one_claim_are_malformed() -> None:
    first = make_disclosures({"holder_name": "张三"})
    second = make_disclosures({"holder_name": "李四"})
    payload = credential_payload(
        licence_id=LICENCE_ID,
        licence_type="driving_licence",
        issuer="psb",
        holder_kind="citizen",
        issued_at=int(NOW),
        valid_from=date(2025, 1, 1),
        valid_until=None,
        status_index=1,
        digests=[first[0].digest, second[0].digest],
    )
    credential = compact(payload, PSB.sign(signing_input(payload)))

    text = present(credential, [first[0].encoded, second[0].encoded])

    assert refused(verify(text), "malformed").reason == "two disclosures reveal the same claim"


# --- refusals: keys and issuers ---------------------------------------------------------------


def test_a_key_that_is_not_the_issuers_fails_its_signature_check() -> None:
    credential, _ = issue(signer=ROGUE)  # claims psb's key name and version

    verification = refused(verify(present(credential, [])), "forged")
    assert "issuer's signature does not verify" in verification.reason


def test_a_key_not_in_the_trust_list_is_forged() -> None:
    credential, _ = issue(signer=Signer("psb.spare", 1, PSB.material))

    verification = refused(verify(present(credential, [])), "forged")
    assert verification.reason.endswith("which is not one of its issuer's keys")


def test_the_wrong_key_version_is_forged() -> None:
    rotated, _ = issue(signer=PSB_V2)
    mislabelled, _ = issue(signer=Signer(PSB.name, 2, PSB.material))

    for credential in (rotated, mislabelled):
        verification = refused(verify(present(credential, [])), "forged")
        assert "psb.licence-signing v2" in verification.reason


def test_another_issuers_key_is_forged() -> None:
    credential, _ = issue(signer=MARKET)  # amr's key, on a psb licence

    refused(verify(present(credential, [])), "forged")


def test_an_issuer_outside_its_licence_types_is_forged() -> None:
    credential, _ = issue(licence_type="business_licence")

    verification = refused(verify(present(credential, [])), "forged")
    assert verification.reason == "the issuer does not issue this licence type"


def test_an_unknown_issuer_is_forged() -> None:
    credential, _ = issue(issuer="unknown-bureau")

    refused(verify(present(credential, [])), "forged")


def test_a_binding_not_signed_by_the_platform_is_forged(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, _ = licence
    by_issuer = present(credential, [], signer=PSB)
    impostor = present(credential, [], signer=Signer(PLATFORM.name, 1, MARKET.material))

    assert "not a platform key" in refused(verify(by_issuer), "forged").reason
    assert "does not verify" in refused(verify(impostor), "forged").reason


# --- refusals: time -------------------------------------------------------------------------


def test_an_expired_presentation_is_refused_after_its_skew(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, _ = licence
    text = present(credential, [], life=300)

    assert verify(text, now=NOW + 300 + 30).result == "valid"
    verification = refused(verify(text, now=NOW + 300 + 31), "presentation_expired")
    assert verification.licence_id == LICENCE_ID  # the signatures held: say which licence
    refused(verify(text, now=NOW - 31), "presentation_expired")  # from the future


def test_a_binding_claiming_a_longer_life_is_forged(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, _ = licence
    prefix = presentation_prefix(credential, [])
    with pytest.raises(CredentialError):
        binding_payload(
            prefix=prefix,
            presentation_id="x",
            licence_id=LICENCE_ID,
            issued_at=int(NOW),
            expires_at=int(NOW) + 601,
        )
    payload = canonical(
        {
            "typ": "presentation",
            "jti": "x",
            "lid": LICENCE_ID,
            "iat": int(NOW),
            "exp": int(NOW) + 86400,
            "sd_hash": b64u(sm3(prefix.encode())),
        }
    )
    text = prefix + compact(payload, PLATFORM.sign(binding_signing_input(payload)))

    assert "life" in refused(verify(text), "forged").reason


def test_licence_dates_are_days_in_china_standard_time() -> None:
    credential, _ = issue(valid_from=date(2025, 7, 1), valid_until=date(2025, 7, 31))
    # 00:30 on 1 July in Haikou is still 30 June in UTC.
    first_morning = datetime(2025, 7, 1, 0, 30, tzinfo=CHINA_STANDARD_TIME).timestamp()
    last_night = datetime(2025, 7, 31, 23, 59, tzinfo=CHINA_STANDARD_TIME).timestamp()
    day_after = datetime(2025, 8, 1, 0, 0, tzinfo=CHINA_STANDARD_TIME).timestamp()
    day_before = datetime(2025, 6, 30, 23, 59, tzinfo=CHINA_STANDARD_TIME).timestamp()

    def at(moment: float) -> Verification:
        text = present(credential, [], issued_at=moment)
        return verify(text, now=moment, status=status_list({}, issued_at=moment))

    assert at(first_morning).result == "valid"
    assert at(last_night).result == "valid"  # the last day is inclusive
    assert refused(at(day_after), "expired").reason == "the licence has expired"
    refused(at(day_before), "not_yet_valid")


# --- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "result"),
    [(VALID, "valid"), (REVOKED, "revoked"), (SUSPENDED, "suspended"), (SUPERSEDED, "superseded")],
)
def test_each_status_in_the_list_decides_the_result(
    licence: tuple[str, list[Disclosure]], status: int, result: str
) -> None:
    credential, disclosures = licence
    # Neighbours with other statuses must not leak into this licence's two bits.
    statuses = {STATUS_INDEX - 1: SUPERSEDED, STATUS_INDEX: status, STATUS_INDEX + 1: REVOKED}
    text = present(credential, [disclosures[0].encoded])

    verification = verify(text, status=status_list(statuses))

    assert verification.result == result
    assert verification.licence_id == LICENCE_ID
    if result != "valid":
        refused(verification, result)


def test_a_stale_status_list_leaves_the_status_unknown(
    licence: tuple[str, list[Disclosure]],
) -> None:
    text = present(licence[0], [])
    just_usable = status_list({}, issued_at=NOW - 3600 - 86400, ttl=3600)
    stale = status_list({}, issued_at=NOW - 3600 - 86400 - 1, ttl=3600)

    assert verify(text, status=just_usable).result == "valid"
    assert refused(verify(text, status=stale), "unknown_status").reason == (
        "the status list is out of date"
    )
    future = status_list({}, issued_at=NOW + 3600)
    refused(verify(text, status=future), "unknown_status")


def test_a_forged_status_list_leaves_the_status_unknown(
    licence: tuple[str, list[Disclosure]],
) -> None:
    text = present(licence[0], [])
    revoked = status_list({STATUS_INDEX: REVOKED})
    # An attacker's list clears the revocation: re-encoded, but the signature is the old one.
    payload = parse_status_list(revoked)[0]
    cleared = dict(payload, lst=b64u(encode_status_list({}, size=64)))
    by_an_issuer = status_list({}, signer=PSB)
    impostor = status_list({}, signer=Signer(PLATFORM.name, 1, MARKET.material))

    assert (
        "does not verify"
        in refused(verify(text, status=swap_payload(revoked, cleared)), "unknown_status").reason
    )
    assert (
        "not signed by a platform key"
        in refused(verify(text, status=by_an_issuer), "unknown_status").reason
    )
    refused(verify(text, status=impostor), "unknown_status")
    refused(verify(text, status="not a status list"), "unknown_status")


def test_a_status_list_too_short_for_the_licence_leaves_the_status_unknown(
    licence: tuple[str, list[Disclosure]],
) -> None:
    text = present(licence[0], [])

    refused(verify(text, status=status_list({}, size=4)), "unknown_status")


def test_without_a_status_list_the_status_is_unknown_unless_skipped(
    licence: tuple[str, list[Disclosure]],
) -> None:
    text = present(licence[0], [licence[1][0].encoded])

    refused(verify(text, status=None), "unknown_status")
    skipped = verify_offline(text, trust=TRUST, status_list=None, now=NOW, require_status=False)
    assert skipped.result == "valid" and "not checked" in skipped.reason
    assert skipped.disclosed == {"holder_name": "张三"}


def test_status_list_bits_are_laid_out_as_the_ietf_draft_orders_them() -> None:
    compressed = encode_status_list({0: 1, 1: 2, 2: 0, 3: 3, 4: 1}, size=8)

    raw = zlib.decompress(compressed)

    assert raw == bytes([0b11001001, 0x01])
    decoded = decode_status_list(compressed)
    assert [decoded.status(i) for i in range(8)] == [1, 2, 0, 3, 1, 0, 0, 0]
    with pytest.raises(CredentialError):
        decoded.status(8)
    with pytest.raises(CredentialError):
        encode_status_list({8: 1}, size=8)
    with pytest.raises(CredentialError):
        encode_status_list({0: 4}, size=8)


def test_a_status_list_zip_bomb_is_refused() -> None:
    bomb = zlib.compress(bytes(16 * 1024 * 1024 + 1), level=9)
    assert len(bomb) < 20_000
    largest = zlib.compress(bytes(16 * 1024 * 1024), level=9)

    with pytest.raises(CredentialError, match="more than 16 MiB"):
        decode_status_list(bomb)
    assert len(decode_status_list(largest)) == 64 * 1024 * 1024
    good = encode_status_list({1: 1}, size=8)
    for broken in (good[:-2], good + b"\0", b"not zlib"):
        with pytest.raises(CredentialError):
            decode_status_list(broken)


# --- malformed input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "~",
        "~~",
        "a~b",
        "x" * (MAX_PRESENTATION_CHARS + 1),
        "eyJ9.sc:a.b:v1:AA~eyJ9.sc:a.b:v1:AA",
        "凭证~绑定",
    ],
)
def test_malformed_presentations_are_refused_as_malformed(text: str) -> None:
    refused(verify(text), "malformed")


def test_a_presentation_over_8192_characters_is_malformed(
    licence: tuple[str, list[Disclosure]],
) -> None:
    credential, _ = licence
    big = make_disclosures({"x": "y" * MAX_PRESENTATION_CHARS})[0].encoded

    assert "8192" in refused(verify(present(credential, [big])), "malformed").reason


def test_signed_json_must_be_canonical(licence: tuple[str, list[Disclosure]]) -> None:
    credential, _ = licence
    parsed = parse_credential(credential)
    spaced = orjson.dumps(parsed.payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    resigned = compact(spaced, PSB.sign(signing_input(spaced)))

    with pytest.raises(CredentialError, match="canonical"):
        parse_credential(resigned)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("v", 2),
        ("v", True),
        ("typ", "presentation"),
        ("id", ""),
        ("hk", "person"),
        ("iat", "1751270400"),
        ("nbf", "20250101"),
        ("exp", "2031-02-30"),
        ("st", -1),
        ("sd_alg", "sha-256"),
        ("_sd", ["short"]),
    ],
)
def test_credential_claims_are_checked(
    licence: tuple[str, list[Disclosure]], claim: str, value: object
) -> None:
    credential, _ = licence
    payload = dict(parse_credential(credential).payload, **{claim: value})

    with pytest.raises(CredentialError) as raised:
        parse_credential(swap_payload(credential, payload))
    assert raised.value.args[0].startswith("the credential")


@pytest.mark.parametrize(
    "encoded",
    [
        b64u(canonical(["salt", "_sd", 1])),
        b64u(canonical(["salt", "name"])),
        b64u(canonical({"salt": "s", "name": "n", "value": 1})),
        b64u(canonical([1, "name", 1])),
        b64u(b"not json"),
        "not base64!",
    ],
)
def test_malformed_disclosures_are_refused(encoded: str) -> None:
    with pytest.raises(CredentialError, match="malformed disclosure"):
        parse_disclosure(encoded)


def test_base64url_decoding_is_strict() -> None:
    assert unb64u(b64u(b"\xff\xfe")) == b"\xff\xfe"
    for text in ("__4=", "__5", "A", "a+b/", "ab cd", "ab\n"):
        with pytest.raises(CredentialError):
            unb64u(text)


def test_signature_strings_are_parsed_strictly() -> None:
    der = algorithms.sign("sm2", PSB.material, b"m")
    assert parse_signature(wrap("psb.licence-signing", 3, der)) == ("psb.licence-signing", 3, der)
    for text in ("sc:psb:v0:AA", "sc:psb:1:AA", "xx:psb:v1:AA", "sc:psb:v1:", "sc:PSB:v1:AA"):
        with pytest.raises(CredentialError):
            parse_signature(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_parse_presentation_only_ever_raises_credential_error(text: str) -> None:
    with contextlib.suppress(CredentialError):
        parse_presentation(text)


@st.composite
def _mutations(draw: st.DrawFn, original: str) -> str:
    position = draw(st.integers(min_value=0, max_value=len(original) - 1))
    kind = draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
    char = draw(st.sampled_from("AZaz09-_~.:=+/ \x00é"))
    if kind == "replace":
        return original[:position] + char + original[position + 1 :]
    if kind == "delete":
        return original[:position] + original[position + 1 :]
    if kind == "insert":
        return original[:position] + char + original[position:]
    return original[:position]


_CREDENTIAL, _DISCLOSURES = issue()
_ORIGINAL = present(_CREDENTIAL, [_DISCLOSURES[0].encoded, _DISCLOSURES[1].encoded])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(_ORIGINAL))
def test_any_mutation_of_a_presentation_is_refused_and_never_raises(mutated: str) -> None:
    assume(mutated != _ORIGINAL)
    with contextlib.suppress(CredentialError):
        parse_presentation(mutated)

    assert verify(mutated).result != "valid"


# --- the trust list -------------------------------------------------------------------------


def test_the_trust_list_round_trips_through_json() -> None:
    again = TrustList.from_json(orjson.loads(orjson.dumps(TRUST.to_json())))

    assert again == TRUST
    assert TRUST.issuers["psb"].licence_types == {"id_card", "driving_licence", "vehicle_licence"}
    assert set(TRUST.platform_keys) == {("licences.platform-signing", 1)}


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"issuers": {}, "platform": {"keys": []}},
        {"issuers": [], "platform": []},
        {
            "issuers": [{"department": "psb", "licence_types": "id_card", "keys": []}],
            "platform": {"keys": []},
        },
        {"issuers": [], "platform": {"keys": [dict(PLATFORM.trusted(), version=0)]}},
        {"issuers": [], "platform": {"keys": [dict(PLATFORM.trusted(), version=True)]}},
        {"issuers": [], "platform": {"keys": [dict(PLATFORM.trusted(), algorithm="sm4-gcm")]}},
        {"issuers": [], "platform": {"keys": [dict(PLATFORM.trusted(), algorithm="ed25519")]}},
        {"issuers": [], "platform": {"keys": [dict(PLATFORM.trusted(), public_key_pem="x")]}},
        # One key in two roles: an issuer's key must not also be the platform's.
        {
            "issuers": [{"department": "psb", "licence_types": [], "keys": [PSB.trusted()]}],
            "platform": {"keys": [dict(PSB.trusted(), name="licences.platform-signing")]},
        },
    ],
)
def test_a_bad_trust_list_is_refused(broken: dict[str, Any]) -> None:
    with pytest.raises(CredentialError, match="trust list"):
        TrustList.from_json(broken)


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def lists(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A trust list, a status list revoking licence 7, and the folder they live in."""
    trust = tmp_path / "trust-list.json"
    trust.write_bytes(orjson.dumps(TRUST_JSON))
    status = tmp_path / "status-list.txt"
    status.write_text(status_list({7: REVOKED}, issued_at=time.time()) + "\n")
    return tmp_path, trust, status


def _fresh(*, status_index: int) -> str:
    """A presentation made just now (the command reads the real clock)."""
    now = time.time()
    today = datetime.fromtimestamp(now, tz=CHINA_STANDARD_TIME).date()
    credential, disclosures = issue(
        status_index=status_index, valid_from=date(today.year - 1, 1, 1), valid_until=None
    )
    return present(credential, [disclosures[0].encoded], issued_at=now)


def test_cli_verifies_a_valid_presentation_offline_as_json(
    lists: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, trust, status = lists
    text = _fresh(status_index=6)

    code = verify_cli.run(
        [
            "verify",
            "--offline",
            "--trust-list",
            str(trust),
            "--status-list",
            str(status),
            "--json",
            text,
        ]
    )

    shown = orjson.loads(capsys.readouterr().out)
    assert code == 0
    assert shown["result"] == "valid"
    assert shown["disclosed"] == {"holder_name": "张三"}
    assert (shown["licence_id"], shown["licence_type"], shown["issuer"]) == (
        LICENCE_ID,
        "driving_licence",
        "psb",
    )
    assert shown["presentation_id"] and shown["expires_at"] > 0


def test_cli_refuses_a_revoked_presentation_read_from_stdin(
    lists: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, trust, status = lists
    monkeypatch.setattr("sys.stdin", io.StringIO(_fresh(status_index=7) + "\n"))

    code = verify_cli.run(
        [
            "verify",
            "--offline",
            "--trust-list",
            str(trust),
            "--status-list",
            str(status),
            "--json",
            "-",
        ]
    )

    shown = orjson.loads(capsys.readouterr().out)
    assert code == 1
    assert shown["result"] == "revoked" and shown["disclosed"] == {}


def test_cli_prints_a_readable_verdict(
    lists: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, trust, status = lists

    code = verify_cli.run(
        ["verify", "--trust-list", str(trust), "--status-list", str(status), _fresh(status_index=6)]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("VALID: ")
    assert LICENCE_ID in out and "holder_name: 张三" in out and "China Standard Time" in out


def test_cli_usage_errors_exit_2(
    lists: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _, _ = lists
    bad_trust = folder / "bad.json"
    bad_trust.write_text('{"issuers": 1}')

    assert verify_cli.run(["verify", "--offline", "x"]) == 2
    assert "--trust-list" in capsys.readouterr().err
    assert verify_cli.run(["verify", "--offline", "--trust-list", str(folder / "nope"), "x"]) == 2
    assert verify_cli.run(["verify", "--offline", "--trust-list", str(bad_trust), "x"]) == 2
    assert verify_cli.run(["verify"]) == 2
    assert verify_cli.run(["verify", "--gateway", "file:///etc", "x"]) == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_names_the_gateway_url_it_cannot_reach(capsys: pytest.CaptureFixture[str]) -> None:
    gateway = f"http://127.0.0.1:{_free_port()}"

    assert verify_cli.run(["verify", "--gateway", gateway, "x"]) == 2

    assert f"{gateway}/public/v1/licences/trust-list" in capsys.readouterr().err


@pytest.fixture
def gateway(lists: tuple[Path, Path, Path]) -> Iterator[str]:
    """A stand-in for the gateway's two public routes, serving the files in `lists`."""
    _, trust, status = lists
    routes = {
        "/public/v1/licences/trust-list": trust.read_bytes(),
        "/public/v1/licences/status-list": status.read_bytes(),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_cli_fetches_both_lists_then_verifies_offline(
    gateway: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "saved"

    assert verify_cli.run(["fetch", "--gateway", gateway, "--out", str(out)]) == 0
    assert verify_cli.run(["verify", "--gateway", gateway, "--json", _fresh(status_index=6)]) == 0
    capsys.readouterr()

    code = verify_cli.run(
        [
            "verify",
            "--offline",
            "--trust-list",
            str(out / "trust-list.json"),
            "--status-list",
            str(out / "status-list.txt"),
            "--json",
            _fresh(status_index=7),
        ]
    )
    assert code == 1
    assert orjson.loads(capsys.readouterr().out)["result"] == "revoked"


def test_the_smartcity_command_dispatches_licence(
    lists: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.cli import USAGE, main

    _, trust, status = lists
    assert "licence" in USAGE
    text = _fresh(status_index=6)

    code = main(
        ["licence", "verify", "--trust-list", str(trust), "--status-list", str(status), text]
    )

    assert code == 0
    assert capsys.readouterr().out.startswith("VALID")


# --- another platform's issuer ------------------------------------------------------------------

# A second issuer, on its own platform: its own SM2 keys (licences, bindings, status list) and
# its own identifiers (GB/T 36904: a type of another defining authority, a division code as
# issuer code, a 32-character serial).
HEFEI = Signer("hefei.licence-signing", 1, algorithms.generate("sm2"))
HEFEI_PLATFORM = Signer("hefei.platform-signing", 1, algorithms.generate("sm2"))
HEFEI_ID = str(
    identifier.build(
        type_code="11100000MB03271699022",
        issuer_code="340100",
        serial="209FA4E88F9E4C878F3E9BED2CE7EA49",
    )
)
SHARED_TRUST_JSON: dict[str, Any] = {
    **TRUST_JSON,
    "issuers": [
        *TRUST_JSON["issuers"],
        {
            "department": "hefei",
            "licence_types": ["driving_licence"],
            "keys": [HEFEI.trusted()],
            "platform_keys": [HEFEI_PLATFORM.trusted()],
        },
    ],
}
SHARED_TRUST = TrustList.from_json(SHARED_TRUST_JSON)


def hefei_presentation(*, binding_signer: Signer = HEFEI_PLATFORM) -> str:
    cred, disclosures = issue(signer=HEFEI, issuer="hefei", licence_id=HEFEI_ID)
    return present(cred, [disclosures[0].encoded], signer=binding_signer)


def test_another_platforms_licence_verifies_offline_with_its_published_keys() -> None:
    text = hefei_presentation()
    hefei_status = status_list({}, signer=HEFEI_PLATFORM)
    verdict = verify_offline(text, trust=SHARED_TRUST, status_list=hefei_status, now=NOW)
    assert verdict.result == "valid", verdict.reason
    assert verdict.issuer == "hefei" and verdict.licence_id == HEFEI_ID
    assert identifier.parse(verdict.licence_id).issuer_code == "340100"
    # its status list says so when it revokes the licence
    revoked = status_list({STATUS_INDEX: REVOKED}, signer=HEFEI_PLATFORM)
    assert verify_offline(text, trust=SHARED_TRUST, status_list=revoked, now=NOW).result == (
        "revoked"
    )
    # the trust list round-trips with the issuer's own platform keys
    assert TrustList.from_json(SHARED_TRUST.to_json()) == SHARED_TRUST


def test_one_platforms_keys_vouch_for_none_of_the_others_licences() -> None:
    # our platform's key cannot bind the other issuer's licence, nor list its statuses...
    forged = verify_offline(
        hefei_presentation(binding_signer=PLATFORM),
        trust=SHARED_TRUST,
        status_list=IN_FORCE,
        now=NOW,
    )
    assert forged.result == "forged", forged.reason
    ours_listing = verify_offline(
        hefei_presentation(), trust=SHARED_TRUST, status_list=IN_FORCE, now=NOW
    )
    assert ours_listing.result == "unknown_status", ours_listing.reason
    # ...and the other platform's key cannot bind ours
    cred, disclosures = issue()
    ours = present(cred, [disclosures[0].encoded], signer=HEFEI_PLATFORM)
    assert verify_offline(ours, trust=SHARED_TRUST, status_list=IN_FORCE, now=NOW).result == (
        "forged"
    )
    # and without its entry in the trust list, the other issuer is not trusted at all
    assert verify(hefei_presentation()).result == "forged"


def test_the_offline_cli_verifies_another_issuers_licence_from_a_shared_trust_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust_file = tmp_path / "trust-list.json"
    trust_file.write_text(json.dumps(SHARED_TRUST_JSON))
    status_file = tmp_path / "status-list.txt"
    status_file.write_text(status_list({}, signer=HEFEI_PLATFORM, issued_at=time.time() - 60))
    cred, disclosures = issue(signer=HEFEI, issuer="hefei", licence_id=HEFEI_ID)
    text = present(cred, [disclosures[0].encoded], signer=HEFEI_PLATFORM, issued_at=time.time())
    args = ["verify", "--offline", "--json", "--trust-list", str(trust_file)]
    code = verify_cli.run([*args, "--status-list", str(status_file), text])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["result"] == "valid", out
    assert out["issuer"] == "hefei" and out["licence_id"] == HEFEI_ID
