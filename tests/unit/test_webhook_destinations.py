"""Webhooks never reach inside the city's network: a URL is checked at registration, and every
connection goes only to a public address, whatever its host name resolves to by then (DNS
rebinding). Real sockets on 127.0.0.1 stand for the inside; a resolver of the test's own stands
for a partner's DNS, which answers what the attacker likes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from runtime.errors import InvalidArgument
from services.partners import destinations, domain
from services.partners.destinations import REFUSED, Destinations

PUBLIC = "93.184.215.14"  # a public address; no test waits for an answer from it


class Answers(AbstractResolver):
    """A partner's DNS: answers whatever addresses the test sets, as often as asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if not self.addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        pass


class Inside:
    """A real TCP listener on 127.0.0.1: what an attacker would like to reach or probe."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> Inside:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def deliver(target: Destinations, url: str) -> tuple[int, str]:
    async with target.client() as http:
        return await target.post(http, url, body=b"{}", headers={"webhook-id": "e1"})


async def refused_at_registration(target: Destinations, url: str) -> str:
    with pytest.raises(InvalidArgument) as refused:
        await target.check(url)
    [violation] = refused.value.violations
    assert violation.field == "url"
    return f"{violation.rule}: {violation.description}"


# --- the rule on addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("93.184.215.14", ""),
        ("2606:4700::1111", ""),
        ("::ffff:93.184.215.14", ""),  # a mapped public address reaches only it
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # shared address space (carrier-grade NAT)
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "unique-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),  # documentation
        ("2001:db8::1", "reserved"),
        ("169.254.169.254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),  # Alibaba Cloud
        ("168.63.129.16", "cloud metadata"),  # Azure, in a public range
        ("fd00:ec2::254", "cloud metadata"),
        # IPv6 forms that carry an IPv4 address are judged by it
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64
        ("2002:a9fe:a9fe::", "cloud metadata"),  # 6to4
        ("::7f00:1", "reserved"),  # IPv4-compatible, deprecated
        # forms aiohttp refuses to connect to, and names: never taken for an address
        ("127.1", "reserved"),
        ("2130706433", "reserved"),
        ("localhost", "reserved"),
    ],
)
def test_every_non_public_address_is_refused_by_name(address: str, refusal: str) -> None:
    assert domain.address_refusal(address) == refusal


# --- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.0.0.1:8443/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://10.0.0.5/hook",
        "https://[fd12::1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://127.1/hook",
    ],
)
async def test_a_literal_internal_address_is_refused_at_registration(url: str) -> None:
    names = Answers(PUBLIC)
    refused = await refused_at_registration(Destinations(allow_private=False, resolver=names), url)
    assert refused.startswith("public-address: is a ")
    assert names.asked == []  # a literal is never resolved


async def test_a_name_is_refused_at_registration_when_none_of_its_addresses_is_public() -> None:
    names = Answers("127.0.0.1", "10.0.0.7", "fd00:ec2::254")
    target = Destinations(allow_private=False, resolver=names)
    refused = await refused_at_registration(target, "https://hooks.bank.example/h")
    assert refused == "public-address: its host name does not resolve to a public address"
    # a name that does not resolve gets the same answer: no oracle of internal names
    names.addresses = []
    assert await refused_at_registration(target, "https://db.internal/h") == refused
    # one public address among them is enough: connections go only to that one
    names.addresses = ["10.0.0.7", PUBLIC]
    await target.check("https://hooks.bank.example/h")


async def test_plain_http_is_refused_unless_local_testing_allows_it_and_then_only_locally() -> None:
    names = Answers("127.0.0.1")
    refused = await refused_at_registration(
        Destinations(allow_private=False, resolver=names), "http://hooks.bank.example/h"
    )
    assert refused == "webhook-url: must be an https:// URL"
    local = Destinations(allow_private=True, resolver=names)
    await local.check("http://127.0.0.1:8000/hook")
    await local.check("http://receiver.local:8000/hook")  # resolves to loopback
    await local.check("https://10.0.0.5/hook")
    # plain http to the internet, or to a name that does not resolve, is not local testing
    for addresses in ([PUBLIC], ["127.0.0.1", PUBLIC], []):
        names.addresses = addresses
        refused = await refused_at_registration(local, "http://hooks.bank.example/h")
        assert "must be an https:// URL" in refused


# --- delivery --------------------------------------------------------------------------------


async def test_dns_rebinding_gets_no_connection_and_the_log_says_refused() -> None:
    async with Inside() as inside:
        # given: the partner's name resolved to a public address when it was registered
        names = Answers(PUBLIC)
        target = Destinations(allow_private=False, resolver=names, timeout=2.0)
        url = f"https://hooks.bank.example:{inside.port}/hook"
        await target.check(url)
        # when: it resolves to this machine at delivery time
        names.addresses = ["127.0.0.1"]
        status, error = await deliver(target, url)
        # then: refused without a connection, and the delivery log says so
        assert (status, error) == (0, REFUSED)
        assert names.asked[-1] == "hooks.bank.example"
        # and so for every internal form the name may take
        for inside_form in ("::1", "::ffff:127.0.0.1", "169.254.169.254", "0.0.0.0"):  # noqa: S104
            names.addresses = [inside_form]
            assert await deliver(target, url) == (0, REFUSED)
        await asyncio.sleep(0.05)
        assert inside.connections == 0


async def test_a_literal_internal_address_is_refused_at_delivery_without_a_connection() -> None:
    async with Inside() as inside:
        target = Destinations(allow_private=False, resolver=Answers(PUBLIC), timeout=2.0)
        for host in ("127.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "127.1"):
            assert await deliver(target, f"https://{host}:{inside.port}/hook") == (0, REFUSED)
        # registered while plain http was allowed: refused too, before any connection
        error = (await deliver(target, f"http://127.0.0.1:{inside.port}/hook"))[1]
        assert error == destinations.NOT_HTTPS
        await asyncio.sleep(0.05)
        assert inside.connections == 0


async def test_a_name_with_public_and_internal_addresses_connects_only_to_the_public_one() -> None:
    async with Inside() as inside:
        # whether the public address answers does not matter: the internal one is never tried
        names = Answers("127.0.0.1", PUBLIC)
        target = Destinations(allow_private=False, resolver=names, timeout=1.0)
        status, error = await deliver(target, f"https://hooks.bank.example:{inside.port}/h")
        assert status == 0 and error != REFUSED  # it tried the public address
        await asyncio.sleep(0.05)
        assert inside.connections == 0


def test_the_socket_factory_refuses_any_internal_address_it_is_handed() -> None:
    # the last check, for whatever reached the connector: no socket exists for it
    for family, address in (
        (socket.AF_INET, ("127.0.0.1", 443)),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 443, 0, 0)),
    ):
        with pytest.raises(destinations.Refused):
            destinations._public_socket((family, socket.SOCK_STREAM, 6, "", address))
    public = destinations._public_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, 443)))
    public.close()


async def test_local_testing_reaches_the_local_listener() -> None:
    # the control: with the setting on, the same listener is reached (so "nothing" above means
    # nothing was attempted, not that the listener was deaf)
    async with Inside() as inside:
        target = Destinations(allow_private=True, resolver=Answers("127.0.0.1"))
        assert await deliver(target, f"http://receiver.local:{inside.port}/hook") == (204, "")
        assert inside.connections == 1


@asynccontextmanager
async def endpoint(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_redirects_are_not_followed() -> None:
    followed: list[str] = []

    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/inside")

    async def inside(request: web.Request) -> web.StreamResponse:
        followed.append(request.path)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", moved)
    app.router.add_post("/inside", inside)
    async with endpoint(app) as base:
        target = Destinations(allow_private=True)
        status, error = await deliver(target, f"{base}/hook")
    assert status == 307 and "redirects are not followed" in error
    assert followed == []


async def test_an_answer_is_bounded_in_time_and_its_body_is_never_read() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(status=200)
        await answer.prepare(request)
        with contextlib.suppress(ConnectionError, OSError):
            while True:  # a body without end: the platform must not wait for it
                await answer.write(b"x" * 65536)
                await asyncio.sleep(0)
        return answer

    async def silent(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/endless", endless)
    app.router.add_post("/silent", silent)
    async with endpoint(app) as base:
        target = Destinations(allow_private=True, timeout=0.5)
        started = time.monotonic()
        assert await deliver(target, f"{base}/endless") == (200, "")
        assert await deliver(target, f"{base}/silent") == (0, "no answer within 0.5 s")
        assert time.monotonic() - started < 3.0
