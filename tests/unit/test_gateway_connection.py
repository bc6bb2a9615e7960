"""The gateway's HTTP/1.1 connections, through a real server on loopback and raw bytes: curl's
raw UTF-8 request targets are read, and what aiohttp's parser refuses is problem+json."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
import pytest_asyncio
import structlog
from aiohttp import web

from gateway import connection
from gateway.connection import percent_encode_target

SECRET = "eyJ-not-a-real-token-but-secret"


async def echo(request: web.Request) -> web.StreamResponse:
    return web.json_response({"path": request.path, "q": request.query.get("q")})


@pytest_asyncio.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    runner = connection.Runner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` as the whole request; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=5)  # each answer here closes
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def request(target: bytes, *headers: bytes) -> bytes:
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: gateway", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def test_a_raw_utf8_query_is_read_as_curl_meant_it(port: int) -> None:
    # given curl's request for `?q=社保`: the UTF-8 bytes as typed, not percent-encoded
    raw = request("/public/v1/catalog/open?q=社保".encode())
    # when sent / then the handler reads the text
    status, _, body = await exchange(port, raw)
    assert status == 200, body
    assert orjson.loads(body) == {"path": "/public/v1/catalog/open", "q": "社保"}


async def test_a_raw_utf8_path_is_read_too(port: int) -> None:
    status, _, body = await exchange(port, request("/keys/社保/public-key".encode()))
    assert status == 200 and orjson.loads(body)["path"] == "/keys/社保/public-key"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b"GET /a?q=\xe7\xa4\xbe HTTP/1.1\r\nHost: x\r\n",
            b"GET /a?q=%E7%A4%BE HTTP/1.1\r\nHost: x\r\n",
        ),
        (b"GET /a?q=ok HTTP/1.1\r\n", b"GET /a?q=ok HTTP/1.1\r\n"),  # ASCII: untouched
        (b"GET /a?q=\xff HTTP/1.1\r\n", b"GET /a?q=\xff HTTP/1.1\r\n"),  # not UTF-8: llhttp says so
        (b"\xe7\xa4\xbe /a HTTP/1.1\r\n", b"\xe7\xa4\xbe /a HTTP/1.1\r\n"),  # not a method
        (b"GET /a?q=\xe7\xa4\xbe", b"GET /a?q=\xe7\xa4\xbe"),  # no version yet: not a request line
        (b'{"name": "\xe7\xa4\xbe"}', b'{"name": "\xe7\xa4\xbe"}'),  # not a request line
    ],
)
def test_only_the_target_of_a_request_line_is_encoded(raw: bytes, expected: bytes) -> None:
    assert percent_encode_target(raw) == expected


async def test_raw_utf8_in_a_later_request_of_a_connection_is_refused_cleanly(
    port: int,
) -> None:
    # given a kept-alive connection that has served one request
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /a?q=1 HTTP/1.1\r\nHost: gateway\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    assert head.startswith(b"HTTP/1.1 200") and await reader.readexactly(length)
    # when its next request has a raw UTF-8 target (only a connection's first line is
    # surely a request line, so only that one is encoded)
    writer.write(request("/b?q=社保".encode()))
    answer = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    # then it is refused as problem+json that says what to do
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request"), head
    assert b"application/problem+json" in head
    assert "percent-encoded" in orjson.loads(body)["detail"]


async def test_an_oversized_header_is_a_problem_without_its_contents_in_the_log(
    port: int,
) -> None:
    header = b"Authorization: Bearer " + SECRET.encode() + b"x" * 9000
    with structlog.testing.capture_logs() as logged:
        status, headers, body = await exchange(port, request(b"/a", header))
    assert status == 431
    assert headers["content-type"].startswith("application/problem+json")
    problem = orjson.loads(body)
    assert problem["status"] == 431 and problem["title"] == "Request header fields too large"
    assert SECRET not in body.decode()
    assert headers["x-content-type-options"] == "nosniff"
    assert logged == [
        {"event": "request_refused", "status": 431, "error": "LineTooLong", "log_level": "warning"}
    ]


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        (b"GET /a?q=\x01 HTTP/1.1\r\nHost: x\r\n\r\n", "Invalid request target"),
        (b"GET /a?q=\xff HTTP/1.1\r\nHost: x\r\n\r\n", "Invalid request target"),
        (b"GET /a HTTP/9\r\nHost: x\r\n\r\n", "Malformed request line"),
        (b"G\x00T /a HTTP/1.1\r\nHost: x\r\n\r\n", "Malformed request line"),
        (b"GET /a HTTP/1.1\r\nBad Header: " + SECRET.encode() + b"\r\n\r\n", "Invalid header"),
        (b"GET /a HTTP/1.1\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n", "Request header fields too large"),
    ],
)
async def test_what_the_parser_refuses_is_problem_json_and_one_log_line(
    port: int, raw: bytes, title: str
) -> None:
    with structlog.testing.capture_logs() as logged:
        status, headers, body = await exchange(port, raw)
    assert headers["content-type"].startswith("application/problem+json"), body
    problem = orjson.loads(body)
    assert (problem["status"], problem["title"]) == (status, title)
    assert status in (400, 431) and "instance" not in problem
    assert SECRET not in body.decode()
    assert [line["event"] for line in logged] == ["request_refused"]
    assert SECRET not in str(logged) and "exc_info" not in logged[0]
