"""CatalogService over gRPC: translate, authorise, delegate."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from sqlalchemy.exc import IntegrityError

from runtime import audit, logs
from runtime.auth import Policy, current_principal, require_principal
from runtime.bus.outbox import enqueue
from runtime.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from runtime.pagination import decode_cursor, encode_cursor, page_size
from runtime.service import ServiceRuntime
from services.catalog import domain, events, store
from smartcity.catalog.v1 import catalog_pb2, catalog_pb2_grpc, events_pb2

log = logs.get(__name__)

SERVICE = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
STAFF = Policy(audiences=("office",))
POLICIES = {
    f"/{SERVICE}/CreateResource": Policy(
        audiences=("office",), roles=(domain.ROLE_CATALOG_OFFICER,)
    ),
    f"/{SERVICE}/GetResource": STAFF,
    f"/{SERVICE}/ListResources": STAFF,
}
MAX_REQUEST_ID = 100


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt

    async def CreateResource(
        self, request: catalog_pb2.CreateResourceRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.CreateResourceResponse:
        principal = require_principal()
        resource = request.resource
        domain.validate_new_resource(resource)
        domain.authorise_create(principal, resource)
        if len(request.request_id) > MAX_REQUEST_ID:
            raise InvalidArgument(
                [FieldViolation("request_id", f"is longer than {MAX_REQUEST_ID} characters")]
            )
        # Scoped to the caller: one officer's key never returns another's resource.
        request_id = f"{principal.subject}/{request.request_id}" if request.request_id else None
        created = await register_resource(
            self._rt, resource, created_by=principal.subject, request_id=request_id
        )
        return catalog_pb2.CreateResourceResponse(resource=created)

    async def GetResource(
        self, request: catalog_pb2.GetResourceRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.GetResourceResponse:
        async with self._rt.db.read() as conn:
            resource = await store.get_resource(conn, request.id)
        if resource is None:
            raise NotFound("resource", request.id)
        return catalog_pb2.GetResourceResponse(resource=resource)

    async def ListResources(
        self, request: catalog_pb2.ListResourcesRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListResourcesResponse:
        limit = page_size(request.page_size)
        after = decode_cursor(request.page_token)
        async with self._rt.db.read() as conn:
            page, next_after = await store.list_resources(
                conn,
                after_seq=after,
                limit=limit,
                provider_department=request.provider_department,
            )
        return catalog_pb2.ListResourcesResponse(
            resources=page, next_page_token=encode_cursor(next_after)
        )


async def register_resource(
    rt: ServiceRuntime,
    resource: catalog_pb2.Resource,
    *,
    created_by: str,
    request_id: str | None,
) -> catalog_pb2.Resource:
    """Store a validated resource and its `resource.created` event in one transaction; a known
    request id returns the resource it created before."""
    try:
        async with rt.db.begin() as conn:
            if request_id and (found := await store.find_by_request_id(conn, request_id)):
                return found
            if await store.code_taken(conn, resource.code):
                raise AlreadyExists(f"resource code {resource.code!r} is already registered")
            created = await store.insert_resource(
                conn,
                resource,
                resource_id=str(uuid.uuid4()),
                created_by=created_by,
                request_id=request_id,
            )
            await enqueue(
                conn,
                events.RESOURCE_CREATED,
                events_pb2.ResourceCreated(
                    resource_id=created.id,
                    code=created.code,
                    provider_department=created.provider_department,
                    share_type=created.share_type,
                    open_type=created.open_type,
                    data_grade=created.data_grade,
                    version=created.version,
                ),
                entity_id=created.id,
            )
            await audit.record(
                conn,
                service="catalog",
                action="catalog.resource.created",
                principal=current_principal(),
                resource_type="resource",
                resource_id=created.id,
            )
    except IntegrityError:
        # A concurrent create took the code or the request id between our check and insert.
        raise AlreadyExists(f"resource code {resource.code!r} is already registered") from None
    rt.events_committed()
    log.info("resource_created", resource_id=created.id, department=created.provider_department)
    return created


def add_to_server(server: Any, rt: ServiceRuntime) -> None:
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(rt), server)
