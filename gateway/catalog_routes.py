"""The catalog on the entry points.

- /office: departments compile their resources and submit them; the Big Data Bureau returns,
  confirms, publishes and withdraws them; staff search the share catalog, route and answer the
  public's demands, and read the scorecards.
- /public: anyone searches the open catalog and exports it (DCAT-AP JSON-LD, CSV) without
  signing in, and reads the public's demands; signed-in citizens and enterprises make demands.
"""

from __future__ import annotations

from aiohttp import web
from google.protobuf.message import Message

from gateway import catalog_export, jsonmap
from gateway.endpoints import PAGE_QUERY, Call, QueryParam, Route, message_response
from smartcity.catalog.v1 import catalog_pb2 as pb

OFFICE = "/office/v1/catalog"
PUBLIC = "/public/v1/catalog"
RESOURCE = f"{OFFICE}/resources/{{id}}"
_DEMAND_OUTPUT_ONLY = frozenset(pb.Demand.DESCRIPTOR.fields_by_name) - {
    "title",
    "description",
    "suggested_department",
}
_SEARCH_FIELDS = (
    "query",
    "provider_department",
    "classification",
    "share_type",
    "open_type",
    "update_cycle",
    "data_grade",
    "page_size",
    "page_token",
    "view",
)
SEARCH_QUERY = (
    QueryParam(name="q", description="Words or Chinese text (at most 100 characters)."),
    QueryParam(name="provider_department", description="Only this department's, e.g. psb."),
    QueryParam(name="classification", description="Classification code prefix, e.g. 3 or 301001."),
    QueryParam(name="share_type", description="unconditional, conditional or not_shared."),
    QueryParam(name="open_type", description="open, conditional or not_open."),
    QueryParam(name="update_cycle", description="real_time, daily, weekly, ... irregular."),
    QueryParam(name="data_grade", description="public, internal, sensitive, important or core."),
    QueryParam(name="view", description="basic (default: no data items) or full."),
    *PAGE_QUERY,
)
DEMAND_QUERY = (
    QueryParam(name="state", description="submitted, routed or answered."),
    QueryParam(name="department", description="Only demands routed to this department."),
    QueryParam(name="overdue", description="true: only overdue demands.", type="boolean"),
    *PAGE_QUERY,
)


def _id(call: Call) -> str:
    return call.request.match_info["id"]


def _query(call: Call, message_type: type[Message], names: tuple[str, ...]) -> Message:
    query = dict(call.request.query)
    if "q" in query:
        query["query"] = query.pop("q")
    return jsonmap.parse_query(query, message_type, names=names)  # type: ignore[no-any-return]


async def create_resource(call: Call) -> web.StreamResponse:
    request = pb.CreateResourceRequest(
        resource=call.body, request_id=call.request.headers.get("Idempotency-Key", "")
    )
    reply = await call.rpc(call.upstream.catalog.CreateResource, request)
    location = f"{OFFICE}/resources/{reply.resource.id}"
    return message_response(reply.resource, status=201, headers={"Location": location})


async def list_resources(call: Call) -> web.StreamResponse:
    request = _query(
        call,
        pb.ListResourcesRequest,
        ("provider_department", "state", "page_size", "page_token"),
    )
    return message_response(await call.rpc(call.upstream.catalog.ListResources, request))


async def get_resource(call: Call) -> web.StreamResponse:
    request = pb.GetResourceRequest(id=_id(call))
    return message_response((await call.rpc(call.upstream.catalog.GetResource, request)).resource)


async def update_resource(call: Call) -> web.StreamResponse:
    resource: pb.Resource = call.body
    resource.id = _id(call)
    request = pb.UpdateResourceRequest(resource=resource)
    request.update_mask.paths.extend(await call.update_mask())
    reply = await call.rpc(call.upstream.catalog.UpdateResource, request)
    return message_response(reply.resource)


async def submit_resource(call: Call) -> web.StreamResponse:
    request = pb.SubmitResourceRequest(id=_id(call))
    return message_response(
        (await call.rpc(call.upstream.catalog.SubmitResource, request)).resource
    )


async def return_resource(call: Call) -> web.StreamResponse:
    request: pb.ReturnResourceRequest = call.body
    request.id = _id(call)
    return message_response(
        (await call.rpc(call.upstream.catalog.ReturnResource, request)).resource
    )


async def confirm_resource(call: Call) -> web.StreamResponse:
    request: pb.ConfirmResourceRequest = call.body
    request.id = _id(call)
    reply = await call.rpc(call.upstream.catalog.ConfirmResource, request)
    return message_response(reply.resource)


async def publish_resource(call: Call) -> web.StreamResponse:
    request: pb.PublishResourceRequest = call.body
    request.id = _id(call)
    reply = await call.rpc(call.upstream.catalog.PublishResource, request)
    return message_response(reply.resource)


async def withdraw_resource(call: Call) -> web.StreamResponse:
    request: pb.WithdrawResourceRequest = call.body
    request.id = _id(call)
    reply = await call.rpc(call.upstream.catalog.WithdrawResource, request)
    return message_response(reply.resource)


async def resource_history(call: Call) -> web.StreamResponse:
    request = pb.ListResourceHistoryRequest(id=_id(call))
    return message_response(await call.rpc(call.upstream.catalog.ListResourceHistory, request))


async def resource_diff(call: Call) -> web.StreamResponse:
    request = _query(call, pb.DiffResourceVersionsRequest, ("from_version", "to_version"))
    request.id = _id(call)  # type: ignore[attr-defined]
    return message_response(await call.rpc(call.upstream.catalog.DiffResourceVersions, request))


async def search_share_catalog(call: Call) -> web.StreamResponse:
    request = _query(call, pb.SearchShareCatalogRequest, _SEARCH_FIELDS)
    return message_response(await call.rpc(call.upstream.catalog.SearchShareCatalog, request))


async def search_open_catalog(call: Call) -> web.StreamResponse:
    request = _query(call, pb.SearchOpenCatalogRequest, _SEARCH_FIELDS)
    return message_response(await call.rpc(call.upstream.catalog.SearchOpenCatalog, request))


async def get_open_resource(call: Call) -> web.StreamResponse:
    request = pb.GetOpenResourceRequest(id=_id(call))
    reply = await call.rpc(call.upstream.catalog.GetOpenResource, request)
    return message_response(reply.resource)


async def create_demand(call: Call) -> web.StreamResponse:
    request = pb.CreateDemandRequest(
        demand=call.body, request_id=call.request.headers.get("Idempotency-Key", "")
    )
    reply = await call.rpc(call.upstream.catalog.CreateDemand, request)
    location = f"{PUBLIC}/demands/{reply.demand.id}"
    return message_response(reply.demand, status=201, headers={"Location": location})


async def list_demands(call: Call) -> web.StreamResponse:
    request = _query(
        call,
        pb.ListDemandsRequest,
        ("state", "department", "overdue", "page_size", "page_token"),
    )
    return message_response(await call.rpc(call.upstream.catalog.ListDemands, request))


async def my_demands(call: Call) -> web.StreamResponse:
    request = _query(call, pb.ListDemandsRequest, ("state", "page_size", "page_token"))
    request.mine = True  # type: ignore[attr-defined]
    return message_response(await call.rpc(call.upstream.catalog.ListDemands, request))


async def get_demand(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.catalog.GetDemand, pb.GetDemandRequest(id=_id(call)))
    return message_response(reply.demand)


async def route_demand(call: Call) -> web.StreamResponse:
    request: pb.RouteDemandRequest = call.body
    request.id = _id(call)
    return message_response((await call.rpc(call.upstream.catalog.RouteDemand, request)).demand)


async def answer_demand(call: Call) -> web.StreamResponse:
    request: pb.AnswerDemandRequest = call.body
    request.id = _id(call)
    return message_response((await call.rpc(call.upstream.catalog.AnswerDemand, request)).demand)


async def scorecards(call: Call) -> web.StreamResponse:
    request = _query(call, pb.ListScorecardsRequest, ("department",))
    return message_response(await call.rpc(call.upstream.catalog.ListScorecards, request))


_ID_ONLY = frozenset({"id"})
_STEP_ERRORS = (401, 403, 404, 409, 422, 503)


def _step(path: str, operation_id: str, summary: str, handler: object, **kw: object) -> Route:
    return Route(
        method="POST",
        path=f"{RESOURCE}/{path}",
        operation_id=operation_id,
        summary=summary,
        tag="catalog",
        handler=handler,  # type: ignore[arg-type]
        audience="office",
        response=pb.Resource,
        errors=_STEP_ERRORS,
        **kw,  # type: ignore[arg-type]
    )


ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path=f"{OFFICE}/resources",
        operation_id="createCatalogResource",
        summary="Register a draft resource of the caller's department (catalog officers); the "
        "service assigns its code.",
        tag="catalog",
        handler=create_resource,
        audience="office",
        body=pb.Resource,
        # id, code, version, state and times are OUTPUT_ONLY in proto: refused, derived
        response=pb.Resource,
        status=201,
        idempotency_key=True,
        errors=(400, 401, 403, 409, 413, 415, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/resources",
        operation_id="listCatalogResources",
        summary="Page through the working copies the caller may see: their department's (all of "
        "them for the Big Data Bureau).",
        tag="catalog",
        handler=list_resources,
        audience="office",
        response=pb.ListResourcesResponse,
        query=(
            *PAGE_QUERY,
            QueryParam(name="provider_department", description="Only this department's."),
            QueryParam(name="state", description="draft, submitted, returned, confirmed, ..."),
        ),
        errors=(400, 401, 422, 503),
    ),
    Route(
        method="GET",
        path=RESOURCE,
        operation_id="getCatalogResource",
        summary="The working copy of one resource (its department and the Bureau).",
        tag="catalog",
        handler=get_resource,
        audience="office",
        response=pb.Resource,
        errors=(401, 404, 503),
    ),
    Route(
        method="PATCH",
        path=RESOURCE,
        operation_id="updateCatalogResource",
        summary="Edit the fields sent; editing a confirmed or published resource starts its next "
        "version as a draft.",
        tag="catalog",
        handler=update_resource,
        audience="office",
        body=pb.Resource,
        # OUTPUT_ONLY and IMMUTABLE (provider_department) fields in proto: refused, derived
        response=pb.Resource,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
    ),
    _step(
        "submit", "submitCatalogResource", "Send a draft to the Bureau for review.", submit_resource
    ),
    _step(
        "return",
        "returnCatalogResource",
        "Send a submitted resource back with comments (Bureau).",
        return_resource,
        body=pb.ReturnResourceRequest,
        read_only=_ID_ONLY,
    ),
    _step(
        "confirm",
        "confirmCatalogResource",
        "Confirm a submitted resource (Bureau); the body may carry a comment.",
        confirm_resource,
        body=pb.ConfirmResourceRequest,
        read_only=_ID_ONLY,
    ),
    _step(
        "publish",
        "publishCatalogResource",
        "List a confirmed resource in the share and/or open catalog (Bureau). A flag not sent "
        "takes its default: share_catalog true, open_catalog true when the resource's open type "
        "is open or conditional; so {} lists it wherever its types allow.",
        publish_resource,
        body=pb.PublishResourceRequest,
        read_only=_ID_ONLY,
    ),
    _step(
        "withdraw",
        "withdrawCatalogResource",
        "Remove a resource from both catalogs, with the reason (Bureau or its department).",
        withdraw_resource,
        body=pb.WithdrawResourceRequest,
        read_only=_ID_ONLY,
    ),
    Route(
        method="GET",
        path=f"{RESOURCE}/history",
        operation_id="listCatalogResourceHistory",
        summary="The lifecycle steps of a resource, with their comments.",
        tag="catalog",
        handler=resource_history,
        audience="office",
        response=pb.ListResourceHistoryResponse,
        errors=(401, 404, 503),
    ),
    Route(
        method="GET",
        path=f"{RESOURCE}/diff",
        operation_id="diffCatalogResourceVersions",
        summary="What changed between two versions, field by field.",
        tag="catalog",
        handler=resource_diff,
        audience="office",
        response=pb.DiffResourceVersionsResponse,
        query=(
            QueryParam(name="from_version", description="Default: to_version - 1.", type="int64"),
            QueryParam(name="to_version", description="Default: the current one.", type="int64"),
        ),
        errors=(401, 404, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/share-catalog",
        operation_id="searchShareCatalog",
        summary="Search the share catalog: every published resource, best match first.",
        tag="catalog",
        handler=search_share_catalog,
        audience="office",
        response=pb.SearchShareCatalogResponse,
        query=SEARCH_QUERY,
        errors=(401, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/demands",
        operation_id="listDemandsForStaff",
        summary="The public's demands for open data, newest first.",
        tag="catalog",
        handler=list_demands,
        audience="office",
        response=pb.ListDemandsResponse,
        query=DEMAND_QUERY,
        errors=(401, 422, 503),
    ),
    Route(
        method="POST",
        path=f"{OFFICE}/demands/{{id}}/route",
        operation_id="routeDemand",
        summary="Hand a demand to a department with a deadline in days (Bureau).",
        tag="catalog",
        handler=route_demand,
        audience="office",
        body=pb.RouteDemandRequest,
        read_only=_ID_ONLY,
        response=pb.Demand,
        errors=_STEP_ERRORS,
    ),
    Route(
        method="POST",
        path=f"{OFFICE}/demands/{{id}}/answer",
        operation_id="answerDemand",
        summary="Answer a demand routed to the caller's department (its catalog officers).",
        tag="catalog",
        handler=answer_demand,
        audience="office",
        body=pb.AnswerDemandRequest,
        read_only=_ID_ONLY,
        response=pb.Demand,
        errors=_STEP_ERRORS,
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/scorecards",
        operation_id="listScorecards",
        summary="Providers' sharing work, ranked (Bureau: all; others: their own).",
        tag="catalog",
        handler=scorecards,
        audience="office",
        response=pb.ListScorecardsResponse,
        query=(QueryParam(name="department", description="Only this department (Bureau)."),),
        errors=(401, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{PUBLIC}/open",
        operation_id="searchOpenCatalog",
        summary="Search the open catalog, no sign-in: best match first.",
        tag="catalog",
        handler=search_open_catalog,
        anonymous=True,
        response=pb.SearchOpenCatalogResponse,
        query=SEARCH_QUERY,
        errors=(422, 503),
    ),
    Route(
        method="GET",
        path=f"{PUBLIC}/open.jsonld",
        operation_id="exportOpenCatalogDcat",
        summary="The open catalog as DCAT-AP JSON-LD (application/ld+json), streamed.",
        tag="catalog",
        handler=catalog_export.export_open_catalog_jsonld,
        anonymous=True,
        query=SEARCH_QUERY[:3],
        errors=(422, 503),
    ),
    Route(
        method="GET",
        path=f"{PUBLIC}/open.csv",
        operation_id="exportOpenCatalogCsv",
        summary="The open catalog as CSV (UTF-8 with BOM), streamed.",
        tag="catalog",
        handler=catalog_export.export_open_catalog_csv,
        anonymous=True,
        query=SEARCH_QUERY[:3],
        errors=(422, 503),
    ),
    Route(
        method="GET",
        path=f"{PUBLIC}/open/{{id}}",
        operation_id="getOpenResource",
        summary="One resource of the open catalog, no sign-in.",
        tag="catalog",
        handler=get_open_resource,
        anonymous=True,
        response=pb.Resource,
        errors=(404, 503),
    ),
    Route(
        method="POST",
        path=f"{PUBLIC}/demands",
        operation_id="createDemand",
        summary="Ask for a dataset to be opened (citizens and enterprises).",
        tag="catalog",
        handler=create_demand,
        audience="public",
        body=pb.Demand,
        read_only=_DEMAND_OUTPUT_ONLY,
        response=pb.Demand,
        status=201,
        idempotency_key=True,
        errors=(400, 401, 403, 413, 415, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{PUBLIC}/demands",
        operation_id="listDemands",
        summary="The public's demands, their status and answers, newest first; no sign-in.",
        tag="catalog",
        handler=list_demands,
        anonymous=True,
        response=pb.ListDemandsResponse,
        query=DEMAND_QUERY,
        errors=(422, 503),
    ),
    Route(
        method="GET",
        path=f"{PUBLIC}/demands/mine",
        operation_id="listMyDemands",
        summary="The caller's own demands.",
        tag="catalog",
        handler=my_demands,
        audience="public",
        response=pb.ListDemandsResponse,
        query=(DEMAND_QUERY[0], *PAGE_QUERY),
        errors=(401, 403, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{PUBLIC}/demands/{{id}}",
        operation_id="getDemand",
        summary="One demand, its status and answer; no sign-in.",
        tag="catalog",
        handler=get_demand,
        anonymous=True,
        response=pb.Demand,
        errors=(404, 503),
    ),
)
