"""The keys service on the real platform: security officers manage keys at the office entry point;
staff and services that a key's policy names sign, verify, encrypt and decrypt over gRPC; public
keys verify signatures offline, with a second, independent SM2 implementation too. Keys of the
platform's services are used only through them, and every use is counted where auditors read
it."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import grpc
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl import sm2  # type: ignore[import-untyped]
from google.rpc import error_details_pb2
from tongsuopy.crypto import serialization as tongsuo_serialization

from conftest import DEMO_PASSWORD, Platform, eventually, remember_secret, revoke_held_licences
from runtime import algorithms, errors, grpcclient, service_credentials
from runtime.service_credentials import ServiceCredentials
from services.identity import demo as people
from services.licences.demo import sample_fields
from services.licences.upstream import SUBJECT_TOKEN_METADATA
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

pytestmark = pytest.mark.integration

ENVELOPE_NAMES = ["encrypt", "decrypt", "rewrap", "generate_data_key"]
LICENCE_KEY = "psb.licence-signing"


@pytest_asyncio.fixture(scope="module")
async def keys(platform: Platform) -> AsyncIterator[keys_pb2_grpc.KeysServiceStub]:
    channel = grpcclient.channel(platform.settings.grpc_target("keys"))
    yield keys_pb2_grpc.KeysServiceStub(channel)
    await channel.close()


@pytest_asyncio.fixture(scope="module")
async def identity(platform: Platform) -> AsyncIterator[identity_pb2_grpc.IdentityServiceStub]:
    channel = grpcclient.channel(platform.settings.grpc_target("identity"))
    yield identity_pb2_grpc.IdentityServiceStub(channel)
    await channel.close()


def as_caller(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def as_service(identity: identity_pb2_grpc.IdentityServiceStub, service: str) -> ServiceCredentials:
    """A platform service's own credentials, as it signs in (the embedded mode's secret)."""

    async def login(client_id: str, secret: str) -> tuple[str, int]:
        reply = await identity.Login(
            identity_pb2.LoginRequest(username=client_id, password=secret, audience="service")
        )
        return reply.access_token, reply.expires_in

    secret = service_credentials.demo_secret(DEMO_PASSWORD, service)
    return ServiceCredentials(service=service, secret=secret, login=login)


async def acting_for(service: ServiceCredentials, token: str) -> tuple[tuple[str, str], ...]:
    """A service's call for the subject of `token`, as the licences service signs a licence."""
    return (*await service.metadata(), (SUBJECT_TOKEN_METADATA, token))


def subject_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def refusal_rule(exc: grpc.aio.AioRpcError) -> dict[str, str]:
    """The key and rule a key policy's refusal names in its google.rpc.ErrorInfo."""
    for detail in errors.status_from_error(exc).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.reason == "KEY_POLICY_DENIED":
            return dict(info.metadata)
    raise AssertionError(f"no key policy refusal in {exc!r}")


async def create_key(platform: Platform, **key: Any) -> dict[str, Any]:
    officer = await platform.login("bdb.admin")  # a security officer
    status, created, _ = await platform.request("POST", "/office/v1/keys", token=officer, json=key)
    assert status == 201, created
    return dict(created)


async def call_error(call: Any) -> tuple[grpc.StatusCode, str, list[errors.FieldViolation]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    status = errors.status_from_error(caught.value)
    return caught.value.code(), status.message, errors.field_violations(status)


async def test_a_licence_issuer_signs_and_anyone_verifies_offline(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    name = f"psb.test-{uuid.uuid4().hex[:8]}"
    created = await create_key(
        platform,
        name=name,
        purpose="sign",
        policy={
            "grants": [
                {
                    "departments": ["psb"],
                    "roles": ["licence_issuer"],
                    "operations": ["sign", "verify"],
                }
            ]
        },
    )
    # the national algorithm is the default, and nothing secret comes back
    assert created["algorithm"] == "sm2" and created["national"] is True
    assert created["latest_version"] == 1 and created["owner_department"] == "bdb"
    assert "material" not in str(created).lower()
    issuer = await platform.login("psb.officer")
    message = "电子驾驶证 1.2.156.3005.2.11.460100.0001".encode()
    signed = await keys.Sign(
        keys_pb2.SignRequest(name=name, message=message), metadata=as_caller(issuer)
    )
    assert signed.signature.startswith(f"sc:{name}:v1:")
    verified = await keys.Verify(
        keys_pb2.VerifyRequest(name=name, message=message, signature=signed.signature),
        metadata=as_caller(issuer),
    )
    assert verified.valid
    tampered = await keys.Verify(
        keys_pb2.VerifyRequest(name=name, message=message + b"!", signature=signed.signature),
        metadata=as_caller(issuer),
    )
    assert not tampered.valid
    # offline: the public key from the public entry point, checked by two implementations
    status, public, _ = await platform.request("GET", f"/public/v1/keys/{name}/public-key")
    assert status == 200 and public["version"] == 1 and public["algorithm"] == "sm2"
    der = algorithms_blob(signed.signature)
    pem = public["public_key_pem"].encode()
    assert algorithms.verify("sm2", pem, message, signature=der)
    assert gmssl_verifies(pem, message, der)


def algorithms_blob(value: str) -> bytes:
    import base64

    encoded = value.split(":")[3]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def gmssl_verifies(pem: bytes, message: bytes, der: bytes) -> bool:
    """gmssl, a second SM2 implementation, checks the signature from the public key alone."""
    public = tongsuo_serialization.load_pem_public_key(pem)
    numbers = public.public_numbers()
    r, s = decode_dss_signature(der)
    crypt = sm2.CryptSM2(private_key="", public_key="")
    crypt.public_key = f"{numbers.x:064x}{numbers.y:064x}"  # gmssl strips a leading 04 badly
    return bool(crypt.verify_with_sm3(f"{r:064x}{s:064x}", message))


async def test_the_policy_decides_who_may_use_a_key(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    name = f"psb.test-{uuid.uuid4().hex[:8]}"
    await create_key(
        platform,
        name=name,
        purpose="sign",
        policy={"grants": [{"departments": ["psb"], "operations": ["sign"]}]},
    )
    other_department = await platform.login("hrss.officer")
    code, message, _ = await call_error(
        keys.Sign(
            keys_pb2.SignRequest(name=name, message=b"x"), metadata=as_caller(other_department)
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED and name in message
    # granted sign but not verify
    issuer = await platform.login("psb.officer")
    code, _, _ = await call_error(
        keys.Verify(
            keys_pb2.VerifyRequest(name=name, message=b"x", signature=f"sc:{name}:v1:AA"),
            metadata=as_caller(issuer),
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # no token at all
    code, _, _ = await call_error(keys.Sign(keys_pb2.SignRequest(name=name, message=b"x")))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    # and a member of staff who is not a security officer cannot manage keys
    status, problem, _ = await platform.request("GET", f"/office/v1/keys/{name}", token=issuer)
    assert status == 403, problem


async def test_envelope_encryption_rotation_rewrap_and_min_decryption_version(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    name = f"psb.data-{uuid.uuid4().hex[:8]}"
    created = await create_key(
        platform,
        name=name,
        purpose="encrypt",
        policy={
            "grants": [
                {
                    "departments": ["psb"],
                    "operations": ["encrypt", "decrypt", "rewrap", "generate_data_key"],
                }
            ]
        },
    )
    assert created["algorithm"] == "sm4-gcm"
    caller = as_caller(await platform.login("psb.officer"))
    aad = b"resource:PSB-0001"
    first = await keys.Encrypt(
        keys_pb2.EncryptRequest(name=name, plaintext=b"secret", associated_data=aad),
        metadata=caller,
    )
    assert first.ciphertext.startswith(f"sc:{name}:v1:")
    plain = await keys.Decrypt(
        keys_pb2.DecryptRequest(name=name, ciphertext=first.ciphertext, associated_data=aad),
        metadata=caller,
    )
    assert plain.plaintext == b"secret"
    # other associated data: refused, naming the field and never the plaintext
    code, _, violations = await call_error(
        keys.Decrypt(
            keys_pb2.DecryptRequest(
                name=name, ciphertext=first.ciphertext, associated_data=b"other"
            ),
            metadata=caller,
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in violations] == ["ciphertext"]
    # a tampered ciphertext
    tampered = first.ciphertext[:-2] + ("AA" if not first.ciphertext.endswith("AA") else "BB")
    code, _, _ = await call_error(
        keys.Decrypt(
            keys_pb2.DecryptRequest(name=name, ciphertext=tampered, associated_data=aad),
            metadata=caller,
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # rotate: new ciphertexts use v2, v1 still decrypts; rewrap moves v1 to v2 without the
    # plaintext leaving the service
    officer = await platform.login("bdb.admin")
    status, rotated, _ = await platform.request(
        "POST", f"/office/v1/keys/{name}/rotate", token=officer
    )
    assert status == 200 and rotated["latest_version"] == 2
    rewrapped = await keys.Rewrap(
        keys_pb2.RewrapRequest(name=name, ciphertext=first.ciphertext, associated_data=aad),
        metadata=caller,
    )
    assert rewrapped.ciphertext.startswith(f"sc:{name}:v2:")
    # once v1 is retired, its ciphertexts no longer decrypt, and the error says why
    status, updated, _ = await platform.request(
        "PATCH", f"/office/v1/keys/{name}", token=officer, json={"min_decryption_version": 2}
    )
    assert status == 200 and updated["min_decryption_version"] == 2, updated
    code, message, _ = await call_error(
        keys.Decrypt(
            keys_pb2.DecryptRequest(name=name, ciphertext=first.ciphertext, associated_data=aad),
            metadata=caller,
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "min_decryption_version" in message
    plain = await keys.Decrypt(
        keys_pb2.DecryptRequest(name=name, ciphertext=rewrapped.ciphertext, associated_data=aad),
        metadata=caller,
    )
    assert plain.plaintext == b"secret"
    # a data key: the plaintext only when asked, the wrapped one always
    data_key = await keys.GenerateDataKey(
        keys_pb2.GenerateDataKeyRequest(name=name, include_plaintext=True), metadata=caller
    )
    assert len(data_key.plaintext) == 16
    unwrapped = await keys.Decrypt(
        keys_pb2.DecryptRequest(name=name, ciphertext=data_key.ciphertext), metadata=caller
    )
    assert unwrapped.plaintext == data_key.plaintext
    wrapped_only = await keys.GenerateDataKey(
        keys_pb2.GenerateDataKeyRequest(name=name, length=32), metadata=caller
    )
    assert wrapped_only.plaintext == b"" and wrapped_only.ciphertext


async def test_wrong_key_wrong_purpose_and_pending_deletion_are_precise_errors(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    grant = {"departments": ["psb"]}
    sign_name = f"psb.s-{uuid.uuid4().hex[:8]}"
    data_name = f"psb.d-{uuid.uuid4().hex[:8]}"
    await create_key(
        platform,
        name=sign_name,
        purpose="sign",
        policy={"grants": [{**grant, "operations": ["sign", "verify"]}]},
    )
    await create_key(
        platform,
        name=data_name,
        purpose="encrypt",
        policy={"grants": [{**grant, "operations": ["encrypt", "decrypt"]}]},
    )
    caller = as_caller(await platform.login("psb.officer"))
    # encrypting with a signing key
    code, _, violations = await call_error(
        keys.Encrypt(keys_pb2.EncryptRequest(name=sign_name, plaintext=b"x"), metadata=caller)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "sign key" in violations[0].description
    # a ciphertext of one key given to another
    ciphertext = (
        await keys.Encrypt(keys_pb2.EncryptRequest(name=data_name, plaintext=b"x"), metadata=caller)
    ).ciphertext
    code, _, violations = await call_error(
        keys.Verify(
            keys_pb2.VerifyRequest(name=sign_name, message=b"x", signature=ciphertext),
            metadata=caller,
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "another key" in violations[0].description
    # an unknown key
    code, _, _ = await call_error(
        keys.Sign(keys_pb2.SignRequest(name="no-such-key", message=b"x"), metadata=caller)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    # a key pending deletion is disabled at once, and usable again when cancelled
    officer = await platform.login("bdb.admin")
    status, pending, _ = await platform.request(
        "POST", f"/office/v1/keys/{data_name}/schedule-deletion?pending_days=7", token=officer
    )
    assert status == 200 and pending["state"] == "pending_deletion" and pending["delete_time"]
    code, message, _ = await call_error(
        keys.Encrypt(keys_pb2.EncryptRequest(name=data_name, plaintext=b"x"), metadata=caller)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "pending deletion" in message
    status, problem, _ = await platform.request(
        "POST", f"/office/v1/keys/{data_name}/schedule-deletion?pending_days=1", token=officer
    )
    assert status in (409, 422), problem
    status, restored, _ = await platform.request(
        "POST", f"/office/v1/keys/{data_name}/cancel-deletion", token=officer
    )
    assert status == 200 and restored["state"] == "enabled"
    await keys.Encrypt(keys_pb2.EncryptRequest(name=data_name, plaintext=b"x"), metadata=caller)


async def test_bad_key_definitions_name_the_rule(platform: Platform) -> None:
    officer = await platform.login("bdb.admin")
    cases = {
        "algorithm": {
            "name": "a-key",
            "purpose": "sign",
            "algorithm": "sm4-gcm",
            "policy": {"grants": [{"roles": ["x"], "operations": ["sign"]}]},
        },
        "policy.grants[0]": {
            "name": "b-key",
            "purpose": "sign",
            "policy": {"grants": [{"operations": ["sign"]}]},
        },
        "policy.grants[0].operations[0]": {
            "name": "c-key",
            "purpose": "sign",
            "policy": {"grants": [{"roles": ["x"], "operations": ["encrypt"]}]},
        },
        "name": {"name": "Bad Name", "purpose": "mac"},
    }
    for field, body in cases.items():
        status, problem, _ = await platform.request(
            "POST", "/office/v1/keys", token=officer, json=body
        )
        assert status == 422, (field, problem)
        assert field in [e["field"] for e in problem["errors"]], (field, problem)


async def test_the_crypto_assessment_lists_every_key_as_json_and_as_a_page(
    platform: Platform,
) -> None:
    auditor = await platform.login("bdb.auditor")
    status, report, _ = await platform.request("GET", "/office/v1/crypto-assessment", token=auditor)
    assert status == 200, report
    holders = {(k["holder"], k["name"]) for k in report["keys"]}
    assert ("keys", "psb.licence-signing") in holders and ("keys", "audit.checkpoints") in holders
    assert any(holder == "identity" for holder, _ in holders)  # the token signing keys
    signing = next(k for k in report["keys"] if k["name"] == "psb.licence-signing")
    assert signing["algorithm"] == "sm2" and signing["national"] is True
    assert any("Ed25519" in f["finding"] for f in report["findings"])
    async with platform.http.get(
        f"{platform.url}/office/v1/crypto-assessment?format=html",
        headers={"Authorization": f"Bearer {auditor}"},
    ) as page:
        assert page.status == 200 and page.content_type == "text/html"
        text = await page.text()
    assert "psb.licence-signing" in text and "Findings" in text
    officer = await platform.login("psb.officer")
    status, _, _ = await platform.request("GET", "/office/v1/crypto-assessment", token=officer)
    assert status == 403


async def test_services_sign_and_encrypt_for_themselves_with_their_own_credentials(
    keys: keys_pb2_grpc.KeysServiceStub, identity: identity_pb2_grpc.IdentityServiceStub
) -> None:
    licences, exchange = as_service(identity, "licences"), as_service(identity, "exchange")
    # the licences service signs with the platform's own key, as the demo policy grants
    signed = await keys.Sign(
        keys_pb2.SignRequest(name="licences.platform-signing", message=b"status list"),
        metadata=await licences.metadata(),
    )
    assert signed.signature.startswith("sc:licences.platform-signing:")
    assert await licences.token() == await licences.token()  # reused until near expiry
    # but not with a department's licence key for itself: only for one of its issuers
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.Sign(
            keys_pb2.SignRequest(name=LICENCE_KEY, message=b"licence"),
            metadata=await licences.metadata(),
        )
    assert refusal_rule(refused.value) == {"key": LICENCE_KEY, "rule": "policy.grants"}
    # the exchange encrypts data at rest with its own key, and may not sign licences
    wrapped = await keys.GenerateDataKey(
        keys_pb2.GenerateDataKeyRequest(name="exchange.data-at-rest"),
        metadata=await exchange.metadata(),
    )
    assert wrapped.ciphertext.startswith("sc:exchange.data-at-rest:")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.Sign(
            keys_pb2.SignRequest(name=LICENCE_KEY, message=b"x"),
            metadata=await exchange.metadata(),
        )
    assert refusal_rule(refused.value) == {"key": LICENCE_KEY, "rule": "policy.services"}


async def test_a_licence_issuer_cannot_sign_with_the_licence_key_directly_and_is_audited(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    # given: psb's licence issuer, with their own token
    issuer = await platform.login("psb.officer")
    sign = keys_pb2.SignRequest(name=LICENCE_KEY, message=b"any bytes at all")
    # when: they call Sign with their department's licence key directly
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.Sign(sign, metadata=as_caller(issuer))
    # then: refused, naming the rule: the key is used only through the licences service
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refusal_rule(refused.value) == {"key": LICENCE_KEY, "rule": "policy.services"}
    assert "licences" in (refused.value.details() or "")
    # and naming themselves (or anyone) as the subject does not help: only services act for others
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.Sign(sign, metadata=(*as_caller(issuer), (SUBJECT_TOKEN_METADATA, issuer)))
    assert refusal_rule(refused.value)["rule"] == "subject_token"
    # and: the refusals are in the audit chain, naming the person, the key and the rule
    auditor = await platform.login("bdb.auditor")
    me = subject_of(issuer)

    async def refusals() -> dict[str, int]:
        status, page, _ = await platform.request(
            "GET",
            "/office/v1/audit/records",
            token=auditor,
            params={"resource_id": LICENCE_KEY, "actor_id": me, "page_size": "100"},
        )
        assert status == 200, page
        found: Counter[str] = Counter()
        for chained in page["records"]:
            record = chained["record"]
            if record["action"] == "keys.key.used" and record["outcome"] == "denied":
                assert record["actor_department"] == "psb" and record["resource_type"] == "key"
                assert record["key_usage"]["service"] == ""  # called directly
                found[record["key_usage"]["denied_by"]] += int(record["key_usage"]["count"])
        return dict(found) if len(found) == 2 else {}

    assert await eventually(refusals) == {"policy.services": 1, "subject_token": 1}
    status, verdict, _ = await platform.request("POST", "/office/v1/audit/verify", token=auditor)
    assert status == 200 and verdict["intact"], verdict


async def test_every_use_of_a_key_is_counted_and_only_auditors_read_who_used_it(
    platform: Platform,
    keys: keys_pb2_grpc.KeysServiceStub,
    identity: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    # given: a key usable only through the licences service, for psb's licence issuers
    name = f"psb.usage-{uuid.uuid4().hex[:8]}"
    policy = {
        "services": ["licences"],
        "grants": [
            {
                "services": ["licences"],
                "departments": ["psb"],
                "roles": ["licence_issuer"],
                "operations": ["sign", "verify"],
            }
        ],
    }
    created = await create_key(platform, name=name, purpose="sign", policy=policy)
    assert created["policy"]["services"] == ["licences"]
    issuer = await platform.login("psb.officer")
    licences = as_service(identity, "licences")
    for_issuer = await acting_for(licences, issuer)
    # when: the licences service signs three messages and a batch of two for the issuer, and
    # verifies one signature; the issuer tries once on their own
    for i in range(3):
        signed = await keys.Sign(
            keys_pb2.SignRequest(name=name, message=f"licence {i}".encode()), metadata=for_issuer
        )
    await keys.SignBatch(
        keys_pb2.SignBatchRequest(name=name, messages=[b"a", b"b"]), metadata=for_issuer
    )
    verified = await keys.Verify(
        keys_pb2.VerifyRequest(name=name, message=b"licence 2", signature=signed.signature),
        metadata=for_issuer,
    )
    assert verified.valid
    with pytest.raises(grpc.aio.AioRpcError):
        await keys.Sign(keys_pb2.SignRequest(name=name, message=b"x"), metadata=as_caller(issuer))
    # then: an auditor reads who used the key, through which service, for what, how often
    auditor = await platform.login("bdb.auditor")
    status, page, _ = await platform.request("GET", f"/office/v1/keys/{name}/usage", token=auditor)
    assert status == 200, page
    me = subject_of(issuer)
    totals: Counter[tuple[str, str, str, str, int]] = Counter()
    for use in page["usage"]:
        assert use["key"] == name and use["actor_department"] == "psb"
        assert "licence_issuer" in use["actor_roles"] and use["actor_type"] == "staff"
        assert use["window_start_time"] <= use["window_end_time"]
        totals[
            (use["operation"], use["outcome"], use["service"], use["actor_id"], use["key_version"])
        ] += int(use["count"])
    assert totals == {
        ("sign", "succeeded", "licences", me, 1): 5,
        ("verify", "succeeded", "licences", me, 1): 1,
        ("sign", "denied", "", me, 0): 1,
    }

    # and: the same counts reach the audit chain, as records of the key
    async def audited() -> int:
        status, records, _ = await platform.request(
            "GET",
            "/office/v1/audit/records",
            token=auditor,
            params={"resource_id": name, "page_size": "100"},
        )
        assert status == 200, records
        return sum(
            int(r["record"]["key_usage"]["count"])
            for r in records["records"]
            if r["record"]["action"] == "keys.key.used"
        )

    async def all_audited() -> bool:
        return await audited() == 7

    assert await eventually(all_audited)
    # but: a citizen, and staff without oversight, read nothing of it
    citizen = await platform.login("demo.citizen", entry="public")
    status, _, _ = await platform.request("GET", f"/office/v1/keys/{name}/usage", token=citizen)
    assert status == 401
    status, _, _ = await platform.request("GET", f"/office/v1/keys/{name}/usage", token=issuer)
    assert status == 403
    code, _, _ = await call_error(
        keys.ListKeyUsage(keys_pb2.ListKeyUsageRequest(name=name), metadata=as_caller(citizen))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_a_licence_issued_through_the_gateway_is_signed_through_the_licences_service(
    platform: Platform,
) -> None:
    # given: psb's licence issuer at the office entry point
    issuer = await platform.login("psb.officer")
    # one driving licence per person: the one the citizen holds is revoked first
    await revoke_held_licences(
        platform,
        "driving_licence",
        holder=await platform.login("demo.citizen", entry="public"),
        issuer=issuer,
    )
    fields = sample_fields("driving_licence", people.CITIZEN.resident_id)
    # when: they issue a licence
    status, licence, _ = await platform.request(
        "POST",
        "/office/v1/licences",
        token=issuer,
        json={"licence_type": "driving_licence", "fields": fields},
    )
    assert status == 201, licence
    # then: the department's key signed it, used by the licences service acting for them
    auditor = await platform.login("bdb.auditor")
    status, page, _ = await platform.request(
        "GET",
        f"/office/v1/keys/{LICENCE_KEY}/usage",
        token=auditor,
        params={"actor_id": subject_of(issuer), "page_size": "100"},
    )
    assert status == 200, page
    assert any(
        u["operation"] == "sign" and u["outcome"] == "succeeded" and u["service"] == "licences"
        for u in page["usage"]
    ), page


async def test_the_demo_licences_are_signed_for_each_departments_own_licensing_system(
    platform: Platform, identity: identity_pb2_grpc.IdentityServiceStub
) -> None:
    # given: the embedded mode's demo licences, issued as the platform starts
    citizen = await platform.login("demo.citizen", entry="public")

    async def held() -> bool:
        status, page, _ = await platform.request("GET", "/public/v1/licences/mine", token=citizen)
        assert status == 200, page
        demo_types = {"id_card", "social_security_card", "driving_licence", "vehicle_licence"}
        return demo_types <= {licence["licence_type"] for licence in page["licences"]}

    assert await eventually(held)
    auditor = await platform.login("bdb.auditor")

    async def signed_for(department: str, actor: str) -> bool:
        status, page, _ = await platform.request(
            "GET",
            f"/office/v1/keys/{department}.licence-signing/usage",
            token=auditor,
            params={"actor_id": actor, "page_size": "100"},
        )
        assert status == 200, page
        return any(
            u["operation"] == "sign"
            and u["outcome"] == "succeeded"
            and u["service"] == "licences"
            and u["actor_type"] == "service"
            and u["actor_department"] == department
            and "licence_issuer" in u["actor_roles"]
            for u in page["usage"]
        )

    for department in ("psb", "hrss", "msa"):
        # when: an auditor reads who used the department's key
        client = f"{department}.licensing"
        remember_secret(service_credentials.demo_secret(DEMO_PASSWORD, client))
        actor = subject_of(await as_service(identity, client).token())
        # then: the licences service signed for the department's own system, a real issuer
        assert await eventually(partial(signed_for, department, actor)), department


async def test_a_batch_of_licences_is_signed_in_one_call(
    platform: Platform,
    keys: keys_pb2_grpc.KeysServiceStub,
    identity: identity_pb2_grpc.IdentityServiceStub,
) -> None:
    licences = as_service(identity, "licences")
    issuer = await acting_for(licences, await platform.login("psb.officer"))
    messages = [f"licence {i}".encode() for i in range(5)]
    batch = await keys.SignBatch(
        keys_pb2.SignBatchRequest(name="psb.licence-signing", messages=messages), metadata=issuer
    )
    assert len(batch.signatures) == 5
    for message, signature in zip(messages, batch.signatures, strict=True):
        verified = await keys.Verify(
            keys_pb2.VerifyRequest(
                name="psb.licence-signing", message=message, signature=signature
            ),
            metadata=issuer,
        )
        assert verified.valid
    for bad in ([], [b"x"] * 1001):
        code, _, violations = await call_error(
            keys.SignBatch(
                keys_pb2.SignBatchRequest(name="psb.licence-signing", messages=bad),
                metadata=issuer,
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and violations[0].field == "messages"
    other = await acting_for(licences, await platform.login("hrss.officer"))
    code, _, _ = await call_error(
        keys.SignBatch(
            keys_pb2.SignBatchRequest(name="psb.licence-signing", messages=[b"x"]), metadata=other
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
