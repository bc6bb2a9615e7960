"""The gateway's HTTP/1.1 connections: requests that aiohttp's parser refuses are answered as
problem+json, and a request target in raw UTF-8, as curl sends `?q=社保`, is accepted.

aiohttp parses requests with llhttp, which refuses any byte above 0x7F in the target ("Invalid
char in url query") and has no lenient flag for it. Browsers and HTTP libraries percent-encode
such targets; curl sends the bytes as typed. `percent_encode_target` does on the first request
line of each connection what the client should have done (RFC 3987 §3.1, IRI to URI), before
llhttp reads it. Later requests on a kept-alive connection are not touched: only the first
line of a connection is surely a request line, and rewriting bytes anywhere else could change a
body's length and with it where the next request starts.

What llhttp still refuses (malformed request lines, oversized or invalid headers) never reaches
the application or its middleware: aiohttp answers it in `RequestHandler.handle_error`, as
text/plain, and logs a traceback whose message quotes the offending bytes (a header's value may
be a token). aiohttp 3.14 offers no hook for it (aio-libs/aiohttp#3287), so `Runner` serves
`Connection`s, whose `handle_error` answers problem+json and logs one line naming only the kind
of error.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import http_exceptions, web

from gateway import languages, problems
from gateway.problems import Problem
from gateway.security import SECURITY_HEADERS
from runtime import logs

log = logs.get(__name__)

# llhttp's limits (aiohttp's defaults), named in the answers.
MAX_LINE_BYTES = 8190
MAX_HEADERS = 128

_NON_ASCII = re.compile(rb"[\x80-\xff]")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) (HTTP/[0-9]\.[0-9]\r?)")


def percent_encode_target(data: bytes) -> bytes:
    """`data` with the non-ASCII bytes of its first line's request target percent-encoded; as
    it was unless that line is a request line whose target is UTF-8 with bytes above 0x7F."""
    end = data.find(b"\n")
    line = data if end < 0 else data[:end]
    if line.isascii():
        return data
    request_line = _REQUEST_LINE.fullmatch(line)
    if request_line is None:
        return data
    method, target, version = request_line.groups()
    try:
        target.decode("utf-8")
    except UnicodeDecodeError:
        return data  # not text: llhttp refuses it, and says so
    encoded = _NON_ASCII.sub(lambda byte: b"%%%02X" % byte[0][0], target)
    rest = b"" if end < 0 else data[end:]
    return b"%s %s %s%s" % (method, encoded, version, rest)


def _problem(status: int, exc: BaseException | None) -> Problem:
    """What went wrong, in words that quote nothing the client sent."""
    if status >= 500:
        return Problem(status, "Internal error", "the gateway failed; the trace id identifies it")
    if isinstance(exc, http_exceptions.LineTooLong):
        return Problem(
            431,
            "Request header fields too large",
            f"the request line or a header field is longer than {MAX_LINE_BYTES} bytes",
        )
    if isinstance(exc, http_exceptions.BadHttpMessage) and "Too many headers" in exc.message:
        return Problem(431, "Request header fields too large", f"more than {MAX_HEADERS} headers")
    if isinstance(exc, http_exceptions.InvalidURLError):
        return Problem(
            status,
            "Invalid request target",
            "the URL is malformed or holds a character that must be percent-encoded "
            "(RFC 3986), e.g. a control character or text that is not UTF-8",
        )
    if isinstance(exc, http_exceptions.BadHttpMethod):
        return Problem(status, "Malformed request line", "the request does not start with a method")
    if isinstance(exc, http_exceptions.BadStatusLine):
        return Problem(status, "Malformed request line", "write METHOD /path HTTP/1.1")
    if isinstance(exc, http_exceptions.InvalidHeader) or (
        isinstance(exc, http_exceptions.BadHttpMessage) and "header" in exc.message.lower()
    ):
        return Problem(
            status,
            "Invalid header",
            "a header field is malformed, or repeated or missing where it may not be (Host)",
        )
    return Problem(status, "Malformed request", "the request is not valid HTTP/1.1 (RFC 9112)")


class Connection(web.RequestHandler):
    """aiohttp's connection handler, with the two changes the module describes."""

    __slots__ = ("_awaiting_first_line",)

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._awaiting_first_line = True

    def data_received(self, data: bytes) -> None:
        if self._awaiting_first_line:
            self._awaiting_first_line = False
            data = percent_encode_target(data)
        super().data_received(data)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        problem = _problem(status, exc)
        error = type(exc).__name__ if exc is not None else ""
        if status >= 500:  # a failure of ours, outside any handler: the traceback helps
            log.error("request_failed", status=problem.status_code, error=error, exc_info=exc)
        else:  # the client's mistake; its message would quote what it sent
            log.warning("request_refused", status=problem.status_code, error=error)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was sent already; cannot send another")
        # a parser error has no request target to name: no `instance`
        language = languages.negotiate(request.headers.get("Accept-Language"))
        response = problems.response(problem, None, language=language)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-store"
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return Connection(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """An AppRunner whose server makes `Connection`s."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # the same object, making this module's connections
        return server
