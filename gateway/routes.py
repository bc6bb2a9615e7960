"""The routes of the gateway's entry points, in one table: identity's, keys' and the catalog's
(see `identity_routes`, `keys_routes`, `catalog_routes`), then the exchange's."""

from __future__ import annotations

from aiohttp import web

from gateway import catalog_routes, identity_routes, keys_routes
from gateway.endpoints import (
    PAGE_QUERY,
    Call,
    Route,
    message_response,
    query_int,
)
from smartcity.exchange.v1 import exchange_pb2

OFFICE = "/office/v1"


async def list_exchange_resources(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.exchange.ListResources,
        exchange_pb2.ListResourcesRequest(
            page_size=query_int(call.request, "page_size"),
            page_token=call.request.query.get("page_token", ""),
        ),
    )
    return message_response(reply)


ROUTES: tuple[Route, ...] = (
    *identity_routes.ROUTES,
    *keys_routes.ROUTES,
    *catalog_routes.ROUTES,
    Route(
        method="GET",
        path=f"{OFFICE}/exchange/resources",
        operation_id="listExchangeResources",
        summary="The resources the exchange knows, learnt from catalog events.",
        tag="exchange",
        handler=list_exchange_resources,
        audience="office",
        response=exchange_pb2.ListResourcesResponse,
        query=PAGE_QUERY,
        errors=(400, 401, 422, 503),
    ),
)
