"""Where webhooks may go: https endpoints on public addresses, and nothing inside the city's own
network (no server-side request forgery through a partner's URL).

An endpoint is checked when it is registered (its literal address, or the addresses its host name
resolves to: at least one must be public) and again on every connection: the connector's
resolver drops every address that is not public and the connection goes only to one that
passed, and the socket factory refuses any other address before a socket exists. A host name
that resolved to a public address at registration and to 127.0.0.1 since (DNS rebinding) gets
no connection at all: its delivery is logged "refused: private address", and nothing is probed.
Redirects are never followed, the answer's body is never read (only its status and bounded
headers), and each attempt ends after `timeout` seconds.

`SMARTCITY_WEBHOOK_ALLOW_PRIVATE=true`, for local testing only (production refuses it), lifts
the address rule and allows plain http to a local receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from runtime.errors import FieldViolation, InvalidArgument
from services.partners import domain

REFUSED = "refused: private address"
NOT_HTTPS = "refused: not an https:// URL"
TIMEOUT_SECONDS = 5.0
# The answer's headers: aiohttp's own line limits, and fewer of them than its default 128.
MAX_HEADER_LINE = 8190
MAX_HEADERS = 64


class Refused(OSError):
    """No public address to connect to: no connection was attempted."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


class _PublicOnly(AbstractResolver):
    """Resolves as `inner` does and answers only the public addresses among those it found."""

    def __init__(self, inner: AbstractResolver) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if not domain.address_refusal(r["host"])]
        if not public:
            raise Refused
        return public

    async def close(self) -> None:
        """The inner resolver belongs to the Destinations that made this one."""


def _public_socket(addr_info: AddrInfoType) -> socket.socket:
    """The last check, on the very address a socket is about to connect to."""
    family, type_, proto, _, address = addr_info
    if domain.address_refusal(str(address[0])):
        raise Refused
    return socket.socket(family=family, type=type_, proto=proto)


class Destinations:
    """Checks webhook URLs at registration, and posts deliveries to them, on public addresses
    only unless `allow_private`. `resolver` is the seam for host names (aiohttp's threaded
    resolver, the system's, when not given)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: AbstractResolver | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self._resolver = resolver

    def _names(self) -> AbstractResolver:
        if self._resolver is None:  # made here: it needs the running loop
            self._resolver = aiohttp.ThreadedResolver()
        return self._resolver

    # --- registration ------------------------------------------------------------------------

    async def check(self, url: str) -> None:
        """Refuse, naming `url`, an endpoint that is not https or points nowhere public: a
        literal address that is not public, or a host name none of whose addresses is."""
        host = domain.webhook_host(url, allow_http=self.allow_private)
        if self.allow_private:
            if URL(url).scheme == "http" and not await self._local(host):
                raise _refused("must be an https:// URL (plain http only to a local receiver)")
            return
        if domain.is_address_literal(host):
            if refusal := domain.address_refusal(host):
                raise _refused(f"is a {refusal} address; webhooks go to public addresses only")
            return
        if not any(not domain.address_refusal(a) for a in await self._addresses(host)):
            # the same answer when it does not resolve: no oracle of which internal names exist
            raise _refused("its host name does not resolve to a public address")

    async def _local(self, host: str) -> bool:
        """Whether the host is a local test receiver: it has addresses, and none is public."""
        found = await self._addresses(host)
        return bool(found) and all(domain.address_refusal(a) for a in found)

    async def _addresses(self, host: str) -> list[str]:
        """The host's addresses: itself when it is one; none when it does not resolve."""
        if domain.is_address_literal(host):
            return [host]
        try:
            async with asyncio.timeout(self.timeout):
                found = await self._names().resolve(host, 443, family=socket.AF_UNSPEC)
        except (OSError, TimeoutError):
            return []
        return [r["host"] for r in found]

    # --- delivery ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[aiohttp.ClientSession]:
        """An HTTP client whose every connection goes to a checked address."""
        connector = aiohttp.TCPConnector(
            limit_per_host=4,
            resolver=self._names() if self.allow_private else _PublicOnly(self._names()),
            socket_factory=None if self.allow_private else _public_socket,
        )
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            cookie_jar=aiohttp.DummyCookieJar(),  # an endpoint's cookies go nowhere
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
            max_headers=MAX_HEADERS,
        ) as http:
            yield http

    async def post(
        self, http: aiohttp.ClientSession, url: str, *, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str]:
        """POST once: (status, "") for a 2xx answer, else (status or 0, why), never raising."""
        if refusal := self._refused_outright(url):
            return 0, refusal
        try:
            async with http.post(url, data=body, headers=headers, allow_redirects=False) as answer:
                status = answer.status  # the body stays unread: the connection closes
        except TimeoutError:
            return 0, f"no answer within {self.timeout:g} s"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, Refused):
                return 0, REFUSED
            return 0, f"unreachable ({type(exc).__name__})"
        except aiohttp.ClientError as exc:
            return 0, f"unreachable ({type(exc).__name__})"
        if 300 <= status < 400:
            return status, f"the endpoint answered {status} (redirects are not followed)"
        if not 200 <= status < 300:
            return status, f"the endpoint answered {status}"
        return status, ""

    def _refused_outright(self, url: str) -> str:
        """What needs no connection to refuse: plain http, or a literal address that is not
        public (aiohttp connects to a literal without asking the resolver)."""
        if self.allow_private:
            return ""
        try:
            host = domain.webhook_host(url, allow_http=False)
        except InvalidArgument:
            return NOT_HTTPS  # registered while plain http was allowed
        if domain.is_address_literal(host) and domain.address_refusal(host):
            return REFUSED
        return ""


def _refused(description: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation("url", description, "public-address")])
