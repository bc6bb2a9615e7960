# ruff: noqa: RUF001 - Chinese text is written with Chinese (full-width) punctuation
"""Problems in the reader's language through the real gateway and services: with
`Accept-Language: zh-CN` a 404, a 401 and a 422 come with Chinese titles and details, the same
`type`, fields and rule codes as in English; with `en` (or no header) they are as they were."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conftest import Platform, resource_body

pytestmark = pytest.mark.integration

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
ENGLISH = {"Accept-Language": "en"}


async def _both(
    platform: Platform, method: str, path: str, **kwargs: Any
) -> tuple[tuple[int, Any, Any], tuple[int, Any, Any]]:
    """The same request answered in Chinese, then in English."""
    chinese = await platform.request(method, path, headers=CHINESE, **kwargs)
    english = await platform.request(method, path, headers=ENGLISH, **kwargs)
    for _, _, headers in (chinese, english):
        assert headers["Content-Type"].startswith("application/problem+json")
        assert "Accept-Language" in headers["Vary"]
    return chinese, english


async def test_a_resource_not_found_is_told_in_chinese(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    missing = str(uuid.uuid4())
    (status, zh, headers), (_, en, en_headers) = await _both(
        platform, "GET", f"/office/v1/catalog/resources/{missing}", token=token
    )
    assert status == 404, zh
    assert (zh["title"], zh["detail"]) == ("未找到", f"未找到资源 '{missing}'")
    assert headers["Content-Language"] == "zh-CN"
    assert (en["title"], en["detail"]) == ("Not found", f"resource '{missing}' not found")
    assert en_headers["Content-Language"] == "en"
    assert zh["type"] == en["type"] and zh["status"] == en["status"] == 404


async def test_wrong_credentials_are_told_in_chinese(platform: Platform) -> None:
    body = {"username": f"nobody-{uuid.uuid4().hex[:8]}", "password": "not the password 1"}
    (status, zh, headers), (_, en, _) = await _both(platform, "POST", "/public/v1/login", json=body)
    assert status == 401, zh
    assert (zh["title"], zh["detail"]) == ("未认证", "用户名或密码错误")
    assert headers["Content-Language"] == "zh-CN"
    assert (en["title"], en["detail"]) == ("Unauthenticated", "wrong username or password")
    assert zh["type"] == en["type"]
    # the challenge is for machines: it stays as RFC 6750 has it, in ASCII
    assert headers["WWW-Authenticate"].startswith('Bearer realm="smartcity"')


async def test_a_missing_token_is_told_in_chinese(platform: Platform) -> None:
    (status, zh, _), (_, en, _) = await _both(platform, "GET", "/public/v1/me")
    assert status == 401, zh
    assert (zh["title"], zh["detail"]) == ("未认证", "需要访问令牌")
    assert en["detail"] == "an access token is required"


async def test_a_broken_rule_is_told_in_chinese_with_its_field_and_rule_code(
    platform: Platform,
) -> None:
    token = await platform.login("psb.officer")
    # two rules of the catalog's domain, both broken: one answer names both
    body = resource_body(name="", summary="")
    (status, zh, headers), (_, en, _) = await _both(
        platform, "POST", "/office/v1/catalog/resources", token=token, json=body
    )
    assert status == 422, zh
    assert zh["title"] == "请求无效" and en["title"] == "Invalid request"
    assert zh["detail"] == "请求无效：name, summary"
    assert en["detail"] == "invalid request: name, summary"
    assert zh["errors"] == [
        {"field": "name", "detail": "必填", "rule": "required"},
        {"field": "summary", "detail": "必填", "rule": "required"},
    ]
    assert [(e["field"], e["rule"]) for e in en["errors"]] == [
        ("name", "required"),
        ("summary", "required"),
    ]
    assert headers["Content-Language"] == "zh-CN"
    assert zh["type"] == en["type"]


async def test_a_rule_declared_in_proto_is_told_in_chinese_too(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    # a rule declared beside the field in proto (runtime/constraints.py) is checked before the
    # domain's, so the answer names that field alone
    body = resource_body(name="名" * 201, summary="")
    (status, zh, _), (_, en, _) = await _both(
        platform, "POST", "/office/v1/catalog/resources", token=token, json=body
    )
    assert status == 422, zh
    assert zh["errors"] == [{"field": "name", "detail": "超过 200 个字符", "rule": "max-length"}]
    assert [(e["field"], e["rule"]) for e in en["errors"]] == [("name", "max-length")]


async def test_without_the_header_the_answer_is_english(platform: Platform) -> None:
    status, problem, headers = await platform.request("GET", "/public/v1/no-such-route")
    assert status == 404
    assert (problem["title"], problem["detail"]) == ("Not Found", "no such route")
    assert headers["Content-Language"] == "en"


async def test_a_malformed_header_is_never_an_error(platform: Platform) -> None:
    status, problem, headers = await platform.request(
        "GET", "/public/v1/me", headers={"Accept-Language": ";;q=zz,,*;q=7, zh_CN"}
    )
    assert status == 401, problem
    assert problem["detail"] == "an access token is required"
    assert headers["Content-Language"] == "en"
