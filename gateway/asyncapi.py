"""The AsyncAPI document of the platform's events, for partners writing consumers.

It is generated from proto/ and the services' event registry (`make proto`) and committed as
`proto/asyncapi.json`; the gateway serves that file as it is, without signing in.
"""

from __future__ import annotations

import functools
from pathlib import Path

from aiohttp import web

from gateway.endpoints import JSON, Call, Route
from gateway.problems import Problem

# The repository's proto/, beside this package: a checkout or an editable install.
DOCUMENT = Path(__file__).resolve().parent.parent / "proto" / "asyncapi.json"
PATH = "/partner/v1/events/asyncapi.json"


@functools.cache
def _document() -> bytes:
    return DOCUMENT.read_bytes()  # once: the file changes only with a new release


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
