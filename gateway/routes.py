"""The routes of the gateway's entry points, in one table: identity's and keys' (see
`identity_routes`, `keys_routes`), then the catalog's and the exchange's."""

from __future__ import annotations

from aiohttp import web

from gateway import identity_routes, keys_routes
from gateway.endpoints import (
    PAGE_QUERY,
    Call,
    QueryParam,
    Route,
    message_response,
    query_int,
)
from smartcity.catalog.v1 import catalog_pb2
from smartcity.exchange.v1 import exchange_pb2

OFFICE = "/office/v1"


async def create_resource(call: Call) -> web.StreamResponse:
    request = catalog_pb2.CreateResourceRequest(
        resource=call.body, request_id=call.request.headers.get("Idempotency-Key", "")
    )
    reply = await call.rpc(call.upstream.catalog.CreateResource, request)
    location = f"{OFFICE}/catalog/resources/{reply.resource.id}"
    return message_response(reply.resource, status=201, headers={"Location": location})


async def get_resource(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.catalog.GetResource,
        catalog_pb2.GetResourceRequest(id=call.request.match_info["id"]),
    )
    return message_response(reply.resource)


async def list_resources(call: Call) -> web.StreamResponse:
    query = call.request.query
    reply = await call.rpc(
        call.upstream.catalog.ListResources,
        catalog_pb2.ListResourcesRequest(
            page_size=query_int(call.request, "page_size"),
            page_token=query.get("page_token", ""),
            provider_department=query.get("provider_department", ""),
        ),
    )
    return message_response(reply)


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
    Route(
        method="POST",
        path=f"{OFFICE}/catalog/resources",
        operation_id="createCatalogResource",
        summary="Register a resource of the caller's department (catalog officers).",
        tag="catalog",
        handler=create_resource,
        audience="office",
        body=catalog_pb2.Resource,
        read_only=frozenset({"id", "version", "create_time", "update_time"}),
        response=catalog_pb2.Resource,
        status=201,
        idempotency_key=True,
        errors=(400, 401, 403, 409, 413, 415, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/catalog/resources",
        operation_id="listCatalogResources",
        summary="Page through the catalog's resources.",
        tag="catalog",
        handler=list_resources,
        audience="office",
        response=catalog_pb2.ListResourcesResponse,
        query=(
            *PAGE_QUERY,
            QueryParam(name="provider_department", description="Only this department's."),
        ),
        errors=(400, 401, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/catalog/resources/{{id}}",
        operation_id="getCatalogResource",
        summary="One resource of the catalog.",
        tag="catalog",
        handler=get_resource,
        audience="office",
        response=catalog_pb2.Resource,
        errors=(401, 404, 503),
    ),
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
