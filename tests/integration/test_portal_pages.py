"""The gateway serves the portal: `/` and `/office/` with their assets, under a strict
Content-Security-Policy, revalidated by ETag, and outside the API's OpenAPI document."""

from __future__ import annotations

import pytest

from conftest import Platform
from gateway import portal_site

pytestmark = pytest.mark.integration

STRICT_CSP = portal_site.CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html"),
        ("/office/", "text/html"),
        ("/portal/common/portal.css", "text/css"),
        ("/portal/common/auth.js", "text/javascript"),
        ("/portal/public/main.js", "text/javascript"),
        ("/portal/i18n/zh-CN.json", "application/json"),
    ],
)
async def test_portal_files_carry_a_strict_policy(
    platform: Platform, path: str, content_type: str
) -> None:
    status, _, headers = await platform.request("GET", path)
    assert status == 200
    assert headers["Content-Type"].startswith(content_type)
    csp = headers["Content-Security-Policy"]
    assert csp == STRICT_CSP
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-cache"
    # revalidation is cheap: the same ETag answers 304
    status, _, _ = await platform.request("GET", path, headers={"If-None-Match": headers["ETag"]})
    assert status == 304


async def test_office_without_its_slash_is_redirected(platform: Platform) -> None:
    status, _, headers = await platform.request("GET", "/office", allow_redirects=False)
    assert status == 308 and headers["Location"] == "/office/"


@pytest.mark.parametrize(
    "path", ["/portal/", "/portal/nothing.js", "/portal/%2e%2e/app.py", "/portal/.hidden"]
)
async def test_anything_else_is_a_problem_not_a_file(platform: Platform, path: str) -> None:
    status, body, headers = await platform.request("GET", path)
    assert status == 404
    assert headers["Content-Type"].startswith("application/problem+json"), body


async def test_the_pages_are_not_in_the_api_document(platform: Platform) -> None:
    status, spec, _ = await platform.request("GET", "/openapi.json")
    assert status == 200
    pages = [p for p in spec["paths"] if p in ("/", "/office", "/office/") or "/portal/" in p]
    assert not pages
    # the API keeps its own, stricter policy
    _, _, headers = await platform.request("GET", "/public/v1/catalog/open")
    assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
