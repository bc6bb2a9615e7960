"""The AsyncAPI document of the platform's events, for partners writing consumers.

It is generated from proto/ and the services' event registry (`make proto`) and committed as
`proto/asyncapi.json`; the gateway serves that file as it is, without signing in.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from aiohttp import web

from gateway.endpoints import JSON, Call, Route
from gateway.problems import Problem

# The repository's proto/ beside this package (a checkout or an editable install), else where
# the container image puts it, under the environment's prefix.
CANDIDATES = (
    Path(__file__).resolve().parent.parent / "proto" / "asyncapi.json",
    Path(sys.prefix) / "share" / "smartcity" / "asyncapi.json",
)
PATH = "/partner/v1/events/asyncapi.json"


@functools.cache
def _document() -> bytes:
    # once: the file changes only with a new release
    for candidate in CANDIDATES:
        if candidate.exists():
            return candidate.read_bytes()
    raise FileNotFoundError(str(CANDIDATES[0]))


async def asyncapi_json(call: Call) -> web.StreamResponse:
    try:
        body = _document()
    except FileNotFoundError:
        # an installation without the source tree; a failure at import would stop the gateway
        raise Problem(
            404, "Not found", "this installation does not carry the AsyncAPI document"
        ) from None
    return web.Response(
        body=body, content_type=JSON, headers={"Cache-Control": "public, max-age=300"}
    )


ROUTE = Route(
    method="GET",
    path=PATH,
    operation_id="getEventsAsyncApi",
    summary="The AsyncAPI 3.0 document of the platform's events and of those partners may "
    "receive (JSON), no sign-in.",
    tag="partners",
    handler=asyncapi_json,
    anonymous=True,
)
