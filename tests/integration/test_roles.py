"""Roles as data, on the real platform: every gRPC method and every office route called as a
member of staff holding each one role, the answers compared with the role table
(`runtime.roles`). A refusal by the table is `PERMISSION_DENIED` with the reason
`ROLE_NOT_PERMITTED` (problem type `role-not-permitted` over HTTP); anything else (a bad request,
a missing resource, success) means the table let the caller through."""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from conftest import Platform, remember_secret
from gateway.routes import ROUTES
from runtime import config, errors, roles
from services.identity import totp

pytestmark = pytest.mark.integration

PASSWORD = "roles as data, checked"
remember_secret(PASSWORD)
DENIED = "ROLE_NOT_PERMITTED"


async def _staff_with(platform: Platform, admin: str, held: list[str]) -> str:
    """A new member of staff of the Bureau holding exactly `held`, signed in with TOTP."""
    name = f"bdb.role.{uuid.uuid4().hex[:8]}"
    status, account, _ = await platform.request(
        "POST",
        "/office/v1/accounts",
        token=admin,
        json={
            "username": name,
            "password": PASSWORD,
            "department": "bdb",
            "roles": held,
            "display_name": "Officer Role",
        },
    )
    assert status == 201, account
    status, first, _ = await platform.request(
        "POST", "/office/v1/login", json={"username": name, "password": PASSWORD}
    )
    assert status == 200, first
    pending = first["access_token"]
    status, enrolment, _ = await platform.request("POST", "/office/v1/me/totp", token=pending)
    assert status == 200, enrolment
    secret = enrolment["secret"]
    remember_secret(secret)
    status, _, _ = await platform.request(
        "POST",
        "/office/v1/me/totp/confirm",
        token=pending,
        json={"totp_code": totp.code_at(secret, time.time())},
    )
    assert status == 204
    return await platform.login(name, PASSWORD, totp_secret=secret)


@pytest_asyncio.fixture(scope="module")
async def tokens(platform: Platform) -> AsyncIterator[dict[str, str]]:
    admin = await platform.login("bdb.admin")
    # (every member of staff holds at least one role: identity refuses an account without)
    yield {role: await _staff_with(platform, admin, [role]) for role in roles.ROLES}


def _methods() -> list[tuple[str, str, bool]]:
    """(service, full method path, server-streaming) of every RPC in proto/."""
    found = []
    for name in config.SERVICES:
        module = importlib.import_module(f"smartcity.{name}.v1.{name}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                path = f"/{service.full_name}/{method.name}"
                found.append((name, path, method.server_streaming))
    return found


def _staff_reachable() -> set[str]:
    """Methods whose own policy admits an office token at all (the table then decides)."""
    reachable = set()
    for name in config.SERVICES:
        module = importlib.import_module(f"services.{name}.servicer")
        for method, policy in module.POLICIES.items():
            if not policy.anonymous and "office" in policy.audiences:
                reachable.add(method)
    return reachable


# Methods every member of staff may call prove nothing here (and Logout would end the session).
CHECKED = [
    m
    for m in _methods()
    if m[1] in _staff_reachable() and roles.operation(m[1]) not in roles.EVERY_STAFF
]


async def _reason(
    platform: Platform, service: str, method: str, streaming: bool, token: str
) -> str:
    """Call a method with an empty request; the ErrorInfo reason of its refusal, or ''."""
    address = f"127.0.0.1:{platform.settings.port(service)}"
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            if streaming:
                call = channel.unary_stream(method)(b"", metadata=metadata, timeout=5)
                async for _ in call:
                    break
                call.cancel()
            else:
                await channel.unary_unary(method)(b"", metadata=metadata, timeout=5)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.CANCELLED:
                return ""
            return errors.reason(errors.status_from_error(error))
    return ""


async def test_every_method_answers_every_role_as_the_role_table_says(
    platform: Platform, tokens: dict[str, str]
) -> None:
    wrong = []
    for service, method, streaming in CHECKED:
        op = roles.operation(method)
        for role, token in tokens.items():
            expected_denied = not roles.permits([role], op)
            denied = await _reason(platform, service, method, streaming, token) == DENIED
            if denied != expected_denied:
                wrong.append(f"{op} as {role}: {'refused' if denied else 'let through'}")
    assert not wrong, wrong


# Bodies carrying what proto declares REQUIRED, so that the request reaches the role check.
DECLARED_REQUIRED: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/office/v1/licences"): {"licence_type": "resident_id_card"},
    ("POST", "/office/v1/licences/verify"): {"presentation": "not-a-presentation"},
}


def _office_routes() -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in ROUTES if r.audience == "office"]


async def test_the_auditor_changes_nothing_through_any_office_route(
    platform: Platform, tokens: dict[str, str]
) -> None:
    auditor = tokens[roles.ROLE_AUDITOR]
    let_through = []
    for method, path in _office_routes():
        if method == "GET" or path.startswith(("/office/v1/me", "/office/v1/logout")):
            continue
        concrete = path.replace("{", "x-").replace("}", "")
        # the gateway checks the fields proto declares REQUIRED before the service checks roles
        body = DECLARED_REQUIRED.get((method, path), {})
        status, problem, _ = await platform.request(method, concrete, token=auditor, json=body)
        assert status < 500, (method, path, problem)
        if status != 403 or problem.get("type") != "urn:smartcity:problem:role-not-permitted":
            let_through.append((method, path, status))
    # reads that take a body: checking the audit chain is the auditor's own work, and checking
    # a licence presentation is anyone's (it is anonymous at /public)
    assert let_through == [
        ("POST", "/office/v1/audit/verify", 200),
        ("POST", "/office/v1/licences/verify", 200),
    ], let_through
