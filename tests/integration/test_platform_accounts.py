"""The platform's own service accounts (one per process, named after it) are protected: the
administration API cannot disable them or change their roles (a 409 of type
`platform-account` that says why), and failed sign-ins under their names lock nothing."""

from __future__ import annotations

import pytest

from conftest import Platform
from runtime import config

pytestmark = pytest.mark.integration

PLATFORM_ACCOUNT = "urn:smartcity:problem:platform-account"


async def service_accounts(platform: Platform, token: str) -> dict[str, dict[str, object]]:
    status, page, _ = await platform.request(
        "GET", "/office/v1/accounts?kind=service&page_size=100", token=token
    )
    assert status == 200, page
    return {a["username"]: a for a in page["accounts"]}


async def test_an_administrator_cannot_disable_or_change_a_platform_account(
    platform: Platform,
) -> None:
    admin = await platform.login("bdb.admin")
    accounts = await service_accounts(platform, admin)
    assert set(config.PLATFORM_CLIENTS) <= set(accounts)
    for service in config.PLATFORM_CLIENTS:
        account_id = accounts[service]["id"]
        for method, action, body in (
            ("POST", "disable", None),
            ("PUT", "roles", {"roles": ["auditor"]}),
            ("POST", "reset-second-factor", None),
        ):
            kwargs = {} if body is None else {"json": body}
            status, problem, _ = await platform.request(
                method, f"/office/v1/accounts/{account_id}/{action}", token=admin, **kwargs
            )
            assert status == 409, (service, action, problem)
            assert problem["type"] == PLATFORM_ACCOUNT, problem
            assert f"the {service} service signs in with it" in problem["detail"], problem
    # and every one of them is still active and unchanged
    after = await service_accounts(platform, admin)
    for service in config.PLATFORM_CLIENTS:
        assert after[service]["state"] == "active" and after[service] == accounts[service]


async def test_failed_sign_ins_under_a_platform_accounts_name_lock_nothing(
    platform: Platform,
) -> None:
    # anyone can send a service's client id to an entry point, with any secret
    for _ in range(8):
        status, problem, _ = await platform.request(
            "POST",
            "/partner/v1/login",
            json={"client_id": "partners", "client_secret": "a-guess-at-the-secret"},
        )
        assert status == 401, problem
    admin = await platform.login("bdb.admin")
    partners = (await service_accounts(platform, admin))["partners"]
    assert partners["failed_logins"] == 0 and partners["locked_until"] is None
