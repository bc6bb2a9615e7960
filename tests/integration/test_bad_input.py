"""No 500 from bad input, through the real gateway and services: each of the inputs that used
to be a server error (or was stored as sent) is now a 400 or 422 naming what is wrong; curl's
raw UTF-8 query is searched; what the HTTP parser refuses is problem+json, logged in one line."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import Platform, eventually, remember_secret, resource_body

pytestmark = pytest.mark.integration

OPEN = "/public/v1/catalog/open"


async def raw_request(platform: Platform, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `head` (a request line and headers, no body) as bytes, as curl would."""
    port = platform.settings.port("gateway")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + f"Host: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    top, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _size(path: Path) -> int:
    return path.stat().st_size


@pytest.mark.parametrize(
    ("path", "login"),
    [
        ("/office/v1/catalog/resources/{id}", {"username": "psb.officer"}),
        ("/office/v1/keys/catalog.audit", {"username": "bdb.admin"}),
        ("/public/v1/me", {"username": "demo.citizen", "entry": "public"}),
    ],
)
async def test_a_patch_without_a_body_is_400_naming_the_body(
    platform: Platform, path: str, login: dict[str, Any]
) -> None:
    token = await platform.login(**login)
    status, problem, headers = await platform.request(
        "PATCH", path.format(id=uuid.uuid4()), token=token
    )
    assert status == 400, problem
    assert headers["Content-Type"].startswith("application/problem+json")
    assert problem["errors"] == [{"field": "body", "detail": "is required"}]


async def test_a_query_integer_beyond_int32_is_400_naming_the_parameter(
    platform: Platform,
) -> None:
    status, problem, _ = await platform.request(
        "GET", "/public/v1/keys/exchange.evidence-signing/public-key?version=2147483648"
    )
    assert status == 400, problem
    assert [(e["field"], e["rule"]) for e in problem["errors"]] == [("version", "range")]


async def test_a_key_twice_in_a_body_is_400_naming_it(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    body = orjson.dumps(resource_body())[:-1] + b', "name": "second name"}'
    status, problem, _ = await platform.request(
        "POST",
        "/office/v1/catalog/resources",
        token=token,
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert status == 400, problem
    assert problem["title"] == "Duplicate key" and problem["errors"][0]["field"] == "name"


@pytest.mark.parametrize("name", ["停车场\x00", "invoice \u202egnp.exe", "\u2066停车场\u2069"])
async def test_control_and_bidi_characters_in_a_name_are_422_and_not_stored(
    platform: Platform, name: str
) -> None:
    token = await platform.login("psb.officer")
    status, problem, _ = await platform.request(
        "POST", "/office/v1/catalog/resources", token=token, json=resource_body(name=name)
    )
    assert status == 422, problem
    assert [(e["field"], e.get("rule")) for e in problem["errors"]] == [("name", "plain-text")]


async def test_text_the_gateway_passes_on_unmapped_is_refused_by_the_service(
    platform: Platform,
) -> None:
    # a path parameter goes into the request message as it is: the catalog checks it
    token = await platform.login("psb.officer")
    status, problem, _ = await platform.request(
        "GET", "/office/v1/catalog/resources/%E2%80%AEabc", token=token
    )
    assert status == 422, problem
    assert [(e["field"], e.get("rule")) for e in problem["errors"]] == [("id", "plain-text")]


async def test_curls_raw_utf8_query_is_searched_like_the_encoded_one(platform: Platform) -> None:
    # given the README's `curl -s 'localhost:8080/public/v1/catalog/open?q=社保'` as curl sends it
    status, headers, body = await raw_request(
        platform,
        f"GET {OPEN}?q=社保 HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n".encode(),
    )
    # then it is searched, and finds what the percent-encoded request finds
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    encoded_status, encoded, _ = await platform.request("GET", OPEN, params={"q": "社保"})
    assert encoded_status == 200 and orjson.loads(body) == encoded


async def test_what_the_http_parser_refuses_is_problem_json_with_one_clean_log_line(
    platform: Platform,
) -> None:
    # given a request whose header is too large, holding something secret
    marker = f"secret-{uuid.uuid4().hex}"
    remember_secret(marker)  # the session also checks that no log holds it
    log_path: Path = platform.spec("gateway").log_path
    logged_before = _size(log_path)
    head = f"GET {OPEN} HTTP/1.1\r\nAuthorization: Bearer {marker}{'x' * 9000}\r\n".encode()
    # when sent
    status, headers, body = await raw_request(platform, head)
    # then it is an RFC 9457 problem
    assert status == 431
    assert headers["content-type"].startswith("application/problem+json")
    assert orjson.loads(body)["title"] == "Request header fields too large"
    # and so is a malformed request line
    status, headers, body = await raw_request(platform, b"GET /a\x01b HTTP/1.1\r\n")
    assert status == 400 and headers["content-type"].startswith("application/problem+json")

    # and the gateway logged each in one line, without a traceback or the header's contents
    def logged() -> str:
        with log_path.open("rb") as log:
            log.seek(logged_before)
            return log.read().decode()

    async def both_refusals() -> set[tuple[int, str]]:
        lines = [orjson.loads(x) for x in logged().splitlines() if '"request_refused"' in x]
        found = {(line["status"], line["error"]) for line in lines}
        return found if {(431, "LineTooLong"), (400, "InvalidURLError")} <= found else set()

    await eventually(both_refusals)
    assert marker not in logged()
    assert "Traceback" not in logged() and "Error handling request" not in logged()


async def test_a_body_cut_short_by_the_client_is_a_warning_without_a_traceback(
    platform: Platform,
) -> None:
    # given a client that announces a body and closes the connection before sending it all
    log_path: Path = platform.spec("gateway").log_path
    logged_before = _size(log_path)
    port = platform.settings.port("gateway")
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /public/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{}"
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()

    def logged() -> str:
        with log_path.open("rb") as log:
            log.seek(logged_before)
            return log.read().decode()

    # then the gateway logs one warning, not an error with a traceback
    async def abandoned() -> bool:
        return '"request_abandoned"' in logged()

    await eventually(abandoned)
    assert "Traceback" not in logged() and '"level":"error"' not in logged()
