"""Answers the OpenAPI document promises, found wrong by schemathesis: a required body, the
`Allow` of a 405, an absent object written null."""

from __future__ import annotations

import pytest

from conftest import Platform


@pytest.mark.parametrize("entry", ["public", "office"])
async def test_verifying_without_a_body_is_a_400_naming_the_body(
    platform: Platform, entry: str
) -> None:
    token = await platform.login("psb.officer") if entry == "office" else None
    # when a verifier posts nothing
    status, problem, _ = await platform.request("POST", f"/{entry}/v1/licences/verify", token=token)
    # then it is told the body is required, not that a presentation is malformed
    assert status == 400, problem
    assert problem["errors"] == [{"field": "body", "detail": "is required"}]
    # and an empty object names the required field
    status, problem, _ = await platform.request(
        "POST", f"/{entry}/v1/licences/verify", token=token, json={}
    )
    assert status == 422, problem
    assert problem["errors"] == [
        {"field": "presentation", "detail": "is required", "rule": "required"}
    ]


@pytest.mark.parametrize("method", ["OPTIONS", "GET", "DELETE"])
async def test_a_405_allows_only_the_methods_of_its_own_route(
    platform: Platform, method: str
) -> None:
    # given /office/v1/licences/verify (POST) beside /office/v1/licences/{id} (GET)
    status, problem, headers = await platform.request(method, "/office/v1/licences/verify")
    # then `verify` is no licence id: the 405 names POST alone
    assert status == 405, problem
    assert headers["Allow"] == "POST"
    assert problem["status"] == 405
