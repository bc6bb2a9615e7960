"""The keys service on the real platform: security officers manage keys at the office entry point;
staff and services that a key's policy names sign, verify, encrypt and decrypt over gRPC; public
keys verify signatures offline, with a second, independent SM2 implementation too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl import sm2  # type: ignore[import-untyped]
from tongsuopy.crypto import serialization as tongsuo_serialization

from conftest import DEMO_PASSWORD, Platform
from runtime import errors, grpcclient, service_credentials
from runtime.service_credentials import ServiceCredentials
from services.keys import algorithms
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

pytestmark = pytest.mark.integration

ENVELOPE_NAMES = ["encrypt", "decrypt", "rewrap", "generate_data_key"]


@pytest_asyncio.fixture(scope="module")
async def keys(platform: Platform) -> AsyncIterator[keys_pb2_grpc.KeysServiceStub]:
    channel = grpcclient.channel(platform.settings.grpc_target("keys"))
    yield keys_pb2_grpc.KeysServiceStub(channel)
    await channel.close()


def as_caller(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


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
        "key.algorithm": {
            "name": "a-key",
            "purpose": "sign",
            "algorithm": "sm4-gcm",
            "policy": {"grants": [{"roles": ["x"], "operations": ["sign"]}]},
        },
        "key.policy.grants[0]": {
            "name": "b-key",
            "purpose": "sign",
            "policy": {"grants": [{"operations": ["sign"]}]},
        },
        "key.policy.grants[0].operations[0]": {
            "name": "c-key",
            "purpose": "sign",
            "policy": {"grants": [{"roles": ["x"], "operations": ["encrypt"]}]},
        },
        "key.name": {"name": "Bad Name", "purpose": "mac"},
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
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    channel = grpcclient.channel(platform.settings.grpc_target("identity"))
    identity = identity_pb2_grpc.IdentityServiceStub(channel)

    async def login(client_id: str, secret: str) -> tuple[str, int]:
        reply = await identity.Login(
            identity_pb2.LoginRequest(username=client_id, password=secret, audience="service")
        )
        return reply.access_token, reply.expires_in

    def credentials(service: str) -> ServiceCredentials:
        secret = service_credentials.demo_secret(DEMO_PASSWORD, service)
        return ServiceCredentials(service=service, secret=secret, login=login)

    try:
        licences, exchange = credentials("licences"), credentials("exchange")
        # the licences service signs with a department's licence key, as the demo policy grants
        signed = await keys.Sign(
            keys_pb2.SignRequest(name="psb.licence-signing", message=b"licence"),
            metadata=await licences.metadata(),
        )
        assert signed.signature.startswith("sc:psb.licence-signing:")
        assert await licences.token() == await licences.token()  # reused until near expiry
        # the exchange encrypts data at rest with its own key, and may not sign licences
        wrapped = await keys.GenerateDataKey(
            keys_pb2.GenerateDataKeyRequest(name="exchange.data-at-rest"),
            metadata=await exchange.metadata(),
        )
        assert wrapped.ciphertext.startswith("sc:exchange.data-at-rest:")
        code, _, _ = await call_error(
            keys.Sign(
                keys_pb2.SignRequest(name="psb.licence-signing", message=b"x"),
                metadata=await exchange.metadata(),
            )
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await channel.close()


async def test_a_batch_of_licences_is_signed_in_one_call(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    issuer = as_caller(await platform.login("psb.officer"))
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
    other = as_caller(await platform.login("hrss.officer"))
    code, _, _ = await call_error(
        keys.SignBatch(
            keys_pb2.SignBatchRequest(name="psb.licence-signing", messages=[b"x"]), metadata=other
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
