"""Interface authorisation codes (Art. 38) on the real platform: issued once, checked on the hot
path from a cache, rate-limited, counted, rotated, and revoked on every replica within a second."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import pytest_asyncio

from conftest import Platform, eventually, remember_secret
from runtime import errors, grpcclient, service_credentials
from runtime.auth import Principal
from runtime.authcodes import AuthorisationCodeChecker, Verified
from runtime.bus import nats as bus_nats
from runtime.errors import PermissionDenied, ResourceExhausted
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def keys(platform: Platform) -> AsyncIterator[keys_pb2_grpc.KeysServiceStub]:
    channel = grpcclient.channel(platform.settings.grpc_target("keys"))
    yield keys_pb2_grpc.KeysServiceStub(channel)
    await channel.close()


def in_(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def issue(platform: Platform, **code: Any) -> dict[str, Any]:
    admin = await platform.login("bdb.admin")
    body = {
        "consumer": "department:psb",
        "interface_services": ["psb.vehicle-query"],
        "expire_time": in_(86400),
        **code,
    }
    status, issued, _ = await platform.request(
        "POST", "/office/v1/authorisation-codes", token=admin, json=body
    )
    assert status == 201, issued
    remember_secret(issued["secret"])
    return dict(issued)


def checker_for(
    keys: keys_pb2_grpc.KeysServiceStub, token: str, calls: list[str] | None = None
) -> AuthorisationCodeChecker:
    """The exchange's checker, verifying through the keys service with the consumer's token."""

    async def verify(secret: str, service: str, principal: Principal) -> Verified:
        if calls is not None:
            calls.append(secret)
        try:
            reply = await keys.VerifyAuthorisationCode(
                keys_pb2.VerifyAuthorisationCodeRequest(secret=secret, interface_service=service),
                metadata=(("authorization", f"Bearer {token}"),),
            )
        except grpc.aio.AioRpcError as exc:
            status = errors.status_from_error(exc)
            raise PermissionDenied(f"{errors.reason(status)}: {status.message}") from None
        return Verified(reply.id, reply.rate_limit_per_minute, reply.expire_time.seconds)

    return AuthorisationCodeChecker(verify)


def principal(platform: Platform, department: str) -> Principal:
    return Principal(subject="s", audience="office", kind="staff", department=department)


async def test_a_code_is_shown_once_checked_from_cache_rate_limited_and_counted(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    issued = await issue(platform, rate_limit_per_minute=3)
    secret, code = issued["secret"], issued["code"]
    assert secret.startswith(f"iac.{code['id']}.") and code["state"] == "active"
    admin = await platform.login("bdb.admin")
    status, listed, _ = await platform.request(
        "GET", "/office/v1/authorisation-codes?consumer=department:psb", token=admin
    )
    assert status == 200 and secret not in str(listed)
    officer = await platform.login("psb.officer")
    calls: list[str] = []
    checker = checker_for(keys, officer, calls)
    psb = principal(platform, "psb")
    # three calls within the rate: one verification by the keys service, then the cache
    for _ in range(3):
        assert await checker.check(secret, "psb.vehicle-query", psb) == code["id"]
    assert len(calls) == 1
    with pytest.raises(ResourceExhausted) as limited:
        await checker.check(secret, "psb.vehicle-query", psb)
    assert limited.value.retry_after >= 1
    # the uses counted from the cache reach the keys service, reported by the exchange
    service_token = await service_token_of(platform, "exchange")

    async def report(uses: dict[str, int]) -> None:
        await keys.ReportAuthorisationCodeUses(
            keys_pb2.ReportAuthorisationCodeUsesRequest(uses=uses),
            metadata=(("authorization", f"Bearer {service_token}"),),
        )

    assert await checker.report_uses(report) == 3  # two cache hits and the refused one

    async def counted() -> bool:
        _, page, _ = await platform.request(
            "GET",
            "/office/v1/authorisation-codes?consumer=department:psb&page_size=100",
            token=admin,
        )
        mine = next(c for c in page["codes"] if c["id"] == code["id"])
        return mine["uses"] == 4 and mine["last_use_time"] is not None

    await eventually(counted, timeout=5)


async def service_token_of(platform: Platform, client_id: str, secret: str = "") -> str:
    """A service client's access token: a platform service's own (its embedded secret), or the
    client's with `secret`."""
    password = secret or service_credentials.demo_secret(platform.settings.demo_password, client_id)
    channel = grpcclient.channel(platform.settings.grpc_target("identity"))
    try:
        reply = await identity_pb2_grpc.IdentityServiceStub(channel).Login(
            identity_pb2.LoginRequest(username=client_id, password=password, audience="service")
        )
    finally:
        await channel.close()
    return str(reply.access_token)


async def test_only_the_exchange_reports_uses_of_codes(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    # given a code, and a service client the Bureau registered (a department's system)
    issued = await issue(platform)
    code_id = issued["code"]["id"]
    admin = await platform.login("bdb.admin")
    client_id = f"svc-{uuid.uuid4().hex[:8]}"
    status, created, _ = await platform.request(
        "POST",
        "/office/v1/clients",
        token=admin,
        json={"client_id": client_id, "kind": "service", "department": "psb"},
    )
    assert status == 201, created
    remember_secret(created["client_secret"])
    token = await service_token_of(platform, client_id, created["client_secret"])
    # when it reports a billion uses of the code
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.ReportAuthorisationCodeUses(
            keys_pb2.ReportAuthorisationCodeUsesRequest(uses={code_id: 10**9}),
            metadata=(("authorization", f"Bearer {token}"),),
        )
    # then it is refused, and the count oversight reads is untouched
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only the exchange" in str(refused.value.details())
    _, page, _ = await platform.request(
        "GET", "/office/v1/authorisation-codes?consumer=department:psb&page_size=100", token=admin
    )
    assert next(c for c in page["codes"] if c["id"] == code_id)["uses"] == 0


async def test_refusals_name_the_reason(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    issued = await issue(platform)
    secret = issued["secret"]
    psb_checker = checker_for(keys, await platform.login("psb.officer"))
    hrss_checker = checker_for(keys, await platform.login("hrss.officer"))
    cases = [
        (hrss_checker, secret, "psb.vehicle-query", "hrss", "WRONG_CONSUMER"),
        (psb_checker, secret, "psb.other-query", "psb", "WRONG_SERVICE"),
        (psb_checker, secret[:-4] + "AAAA", "psb.vehicle-query", "psb", "INVALID"),
        (psb_checker, "not-a-code", "psb.vehicle-query", "psb", "INVALID"),
    ]
    for checker, presented, service, department, reason in cases:
        with pytest.raises(PermissionDenied, match=f"AUTHORISATION_CODE_{reason}"):
            await checker.check(presented, service, principal(platform, department))
    # an expired code
    short = await issue(platform, expire_time=in_(1.5))
    await asyncio.sleep(2.0)
    with pytest.raises(PermissionDenied, match="AUTHORISATION_CODE_EXPIRED"):
        await psb_checker.check(short["secret"], "psb.vehicle-query", principal(platform, "psb"))
    # and bad requests to issue one name the field
    admin = await platform.login("bdb.admin")
    status, problem, _ = await platform.request(
        "POST",
        "/office/v1/authorisation-codes",
        token=admin,
        json={"consumer": "everyone", "interface_services": [], "expire_time": in_(-10)},
    )
    assert status == 422
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"consumer", "interface_services", "expire_time"}


async def test_revocation_reaches_every_replica_within_a_second(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    issued = await issue(platform)
    secret, code_id = issued["secret"], issued["code"]["id"]
    officer = await platform.login("psb.officer")
    psb = principal(platform, "psb")
    # two replicas of the exchange, each with the code in its cache and following revocations
    replicas = [checker_for(keys, officer) for _ in range(2)]
    connections = []
    for replica in replicas:
        nc = await platform.nats_as("exchange")
        await bus_nats.follow(nc, replica.signal_handlers())
        connections.append(nc)
        await nc.flush(timeout=5)
        assert await replica.check(secret, "psb.vehicle-query", psb) == code_id
    try:
        admin = await platform.login("bdb.admin")
        status, revoked, _ = await platform.request(
            "POST", f"/office/v1/authorisation-codes/{code_id}/revoke", token=admin
        )
        assert status == 200 and revoked["state"] == "revoked"
        started = time.monotonic()

        async def refused_everywhere() -> bool:
            for replica in replicas:
                try:
                    await replica.check(secret, "psb.vehicle-query", psb)
                    return False
                except PermissionDenied as exc:
                    assert "REVOKED" in exc.message
            return True

        await eventually(refused_everywhere, timeout=1.0, interval=0.05)
        assert time.monotonic() - started < 1.0
    finally:
        for nc in connections:
            await asyncio.wait_for(nc.close(), timeout=5)


async def test_rotation_replaces_the_secret_at_once(
    platform: Platform, keys: keys_pb2_grpc.KeysServiceStub
) -> None:
    issued = await issue(platform)
    old, code_id = issued["secret"], issued["code"]["id"]
    admin = await platform.login("bdb.admin")
    status, rotated, _ = await platform.request(
        "POST", f"/office/v1/authorisation-codes/{code_id}/rotate", token=admin
    )
    assert status == 200 and rotated["code"]["rotations"] == 1
    remember_secret(rotated["secret"])
    checker = checker_for(keys, await platform.login("psb.officer"))
    psb = principal(platform, "psb")
    with pytest.raises(PermissionDenied, match="INVALID"):
        await checker.check(old, "psb.vehicle-query", psb)
    assert await checker.check(rotated["secret"], "psb.vehicle-query", psb) == code_id
