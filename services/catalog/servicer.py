"""CatalogService over gRPC: translate, authorise, delegate.

The `@allow` lines say who may call at all; the domain decides what each caller may do to which
resource (own department, the Big Data Bureau).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

from runtime.auth import (
    ANONYMOUS,
    OFFICE,
    Policy,
    Principal,
    allow,
    current_principal,
    policies_of,
    require_principal,
)
from runtime.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from runtime.pagination import (
    decode_cursor,
    decode_key_cursor,
    encode_cursor,
    encode_key_cursor,
    page_size,
)
from runtime.service import ServiceRuntime
from runtime.ttlcache import TtlCache
from services.catalog import demands, domain, resources, scorecards, search, store
from smartcity.catalog.v1 import catalog_pb2 as pb
from smartcity.catalog.v1 import catalog_pb2_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name
# Which members of staff may call each method: the role table, runtime/roles.py; the names
# below say whom each method is for.
OFFICERS = OFFICE
BUREAU = OFFICE
STAFF_AND_SERVICES = Policy(audiences=("office", "service"))
THE_PUBLIC = Policy(audiences=("public",), kinds=("citizen", "enterprise_agent"))
MAX_REQUEST_ID = 100
SEARCH_CACHE_SIZE = 2048
MAX_ID = 36
Context: TypeAlias = grpc.aio.ServicerContext
# The share and open catalogs take the same filters.
SearchRequest: TypeAlias = pb.SearchShareCatalogRequest | pb.SearchOpenCatalogRequest


def _request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID:
        raise InvalidArgument.of("request_id", f"is longer than {MAX_REQUEST_ID} characters")
    return value


def _id(value: str, what: str = "resource") -> str:
    # Ids are uuids: anything longer cannot exist, and is not worth a query.
    if not value or len(value) > MAX_ID:
        raise NotFound(what, value[:MAX_ID])
    return value


def _authorise_edit(principal: Principal, resource: pb.Resource) -> None:
    domain.authorise_edit(principal, resource.provider_department)


def _authorise_review(principal: Principal, resource: pb.Resource) -> None:
    domain.authorise_review(principal)


def _authorise_withdraw(principal: Principal, resource: pb.Resource) -> None:
    domain.authorise_withdraw(principal, resource.provider_department)


def _bureau_only() -> None:
    # Refused before the resource is looked up or the request checked: no one else learns
    # which ids exist.
    domain.authorise_review(require_principal())


def _catalog_filter(request: SearchRequest, *, open_catalog: bool) -> store.CatalogFilter:
    violations: list[FieldViolation] = []
    if request.provider_department and not domain.DEPARTMENT_PATTERN.fullmatch(
        request.provider_department
    ):
        violations.append(
            FieldViolation("provider_department", "must be a department code", "department-code")
        )
    if request.classification and not (
        request.classification.isascii()
        and request.classification.isdigit()
        and len(request.classification) <= 6
    ):
        violations.append(
            FieldViolation(
                "classification", "must be 1 to 6 digits, e.g. '3' or '301001'", "classification"
            )
        )
    for name, value, enum in (
        ("share_type", request.share_type, pb.ShareType),
        ("open_type", request.open_type, pb.OpenType),
        ("update_cycle", request.update_cycle, pb.UpdateCycle),
        ("data_grade", request.data_grade, pb.DataGrade),
        ("view", request.view, pb.ResourceView),
    ):
        if value not in enum.values():
            violations.append(FieldViolation(name, f"has no value {value}", "known-value"))
    if violations:
        raise InvalidArgument(violations)
    return store.CatalogFilter(
        open_catalog=open_catalog,
        terms=search.query_terms(request.query),
        provider_department=request.provider_department,
        classification=request.classification,
        share_type=request.share_type,
        open_type=request.open_type,
        update_cycle=request.update_cycle,
        data_grade=request.data_grade,
        full=request.view == pb.RESOURCE_VIEW_FULL,
    )


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt
        # Repeated searches within a second are answered from memory; this replica's own
        # publications and withdrawals clear it at once, other replicas' within the second.
        self._searches: TtlCache[tuple[bool, bytes], tuple[list[pb.Resource], str]] = TtlCache(
            seconds=rt.settings.search_cache_ms / 1000, size=SEARCH_CACHE_SIZE
        )

    # --- compiling the catalog --------------------------------------------------------------

    @allow(OFFICERS)
    async def CreateResource(
        self, request: pb.CreateResourceRequest, context: Context
    ) -> pb.CreateResourceResponse:
        principal = require_principal()
        domain.validate_resource(request.resource)
        domain.authorise_edit(principal, request.resource.provider_department)
        key = _request_id(request.request_id)
        # Scoped to the caller: one officer's key never returns another's resource.
        created = await resources.register(
            self._rt,
            request.resource,
            created_by=principal.subject,
            request_id=f"{principal.subject}/{key}" if key else None,
        )
        return pb.CreateResourceResponse(resource=created)

    @allow(OFFICE)
    async def GetResource(
        self, request: pb.GetResourceRequest, context: Context
    ) -> pb.GetResourceResponse:
        return pb.GetResourceResponse(resource=await self._visible(request.id))

    @allow(OFFICE)
    async def ListResources(
        self, request: pb.ListResourcesRequest, context: Context
    ) -> pb.ListResourcesResponse:
        principal = require_principal()
        if request.state not in pb.ResourceState.values():
            raise InvalidArgument.of("state", f"has no value {request.state}")
        bureau = principal.department == domain.BUREAU
        async with self._rt.db.read() as conn:
            page, next_after = await store.list_resources(
                conn,
                after_seq=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
                departments=None if bureau else (principal.department,),
                provider_department=request.provider_department,
                state=request.state,
            )
        return pb.ListResourcesResponse(resources=page, next_page_token=encode_cursor(next_after))

    @allow(OFFICERS)
    async def UpdateResource(
        self, request: pb.UpdateResourceRequest, context: Context
    ) -> pb.UpdateResourceResponse:
        _id(request.resource.id)
        updated = await resources.update(
            self._rt, require_principal(), request.resource, request.update_mask
        )
        return pb.UpdateResourceResponse(resource=updated)

    @allow(OFFICERS)
    async def SubmitResource(
        self, request: pb.SubmitResourceRequest, context: Context
    ) -> pb.SubmitResourceResponse:
        changed = await self._step(request.id, "submit", _authorise_edit)
        return pb.SubmitResourceResponse(resource=changed)

    @allow(BUREAU)
    async def ReturnResource(
        self, request: pb.ReturnResourceRequest, context: Context
    ) -> pb.ReturnResourceResponse:
        _bureau_only()
        note = domain.comment("comment", request.comment, required=True)
        changed = await self._step(request.id, "return", _authorise_review, comment=note)
        return pb.ReturnResourceResponse(resource=changed)

    @allow(BUREAU)
    async def ConfirmResource(
        self, request: pb.ConfirmResourceRequest, context: Context
    ) -> pb.ConfirmResourceResponse:
        _bureau_only()
        note = domain.comment("comment", request.comment, required=False)
        changed = await self._step(request.id, "confirm", _authorise_review, comment=note)
        return pb.ConfirmResourceResponse(resource=changed)

    @allow(BUREAU)
    async def PublishResource(
        self, request: pb.PublishResourceRequest, context: Context
    ) -> pb.PublishResourceResponse:
        _bureau_only()
        changed = await self._step(
            request.id,
            "publish",
            _authorise_review,
            # a flag not sent takes its default (domain.publication)
            publication=(
                request.share_catalog if request.HasField("share_catalog") else None,
                request.open_catalog if request.HasField("open_catalog") else None,
            ),
        )
        self._searches.clear()
        return pb.PublishResourceResponse(resource=changed)

    @allow(BUREAU)
    async def WithdrawResource(
        self, request: pb.WithdrawResourceRequest, context: Context
    ) -> pb.WithdrawResourceResponse:
        note = domain.comment("reason", request.reason, required=True)
        changed = await self._step(request.id, "withdraw", _authorise_withdraw, comment=note)
        self._searches.clear()
        return pb.WithdrawResourceResponse(resource=changed)

    @allow(OFFICE)
    async def ListResourceHistory(
        self, request: pb.ListResourceHistoryRequest, context: Context
    ) -> pb.ListResourceHistoryResponse:
        await self._visible(request.id)
        async with self._rt.db.read() as conn:
            steps = await store.history(conn, request.id)
        return pb.ListResourceHistoryResponse(transitions=steps)

    @allow(OFFICE)
    async def DiffResourceVersions(
        self, request: pb.DiffResourceVersionsRequest, context: Context
    ) -> pb.DiffResourceVersionsResponse:
        await self._visible(request.id)
        return await resources.versions_diff(
            self._rt,
            request.id,
            from_version=request.from_version,
            to_version=request.to_version,
        )

    # --- the share and open catalogs ----------------------------------------------------------

    @allow(OFFICE)
    async def SearchShareCatalog(
        self, request: pb.SearchShareCatalogRequest, context: Context
    ) -> pb.SearchShareCatalogResponse:
        found, token = await self._search(request, open_catalog=False)
        return pb.SearchShareCatalogResponse(resources=found, next_page_token=token)

    @allow(ANONYMOUS)
    async def SearchOpenCatalog(
        self, request: pb.SearchOpenCatalogRequest, context: Context
    ) -> pb.SearchOpenCatalogResponse:
        found, token = await self._search(request, open_catalog=True)
        return pb.SearchOpenCatalogResponse(resources=found, next_page_token=token)

    @allow(STAFF_AND_SERVICES)
    async def GetShareCatalogEntry(
        self, request: pb.GetShareCatalogEntryRequest, context: Context
    ) -> pb.GetShareCatalogEntryResponse:
        async with self._rt.db.read() as conn:
            found = await store.get_entry(conn, _id(request.id), open_catalog=False)
        if found is None:
            raise NotFound("resource in the share catalog", request.id)
        return pb.GetShareCatalogEntryResponse(resource=found)

    @allow(ANONYMOUS)
    async def GetOpenResource(
        self, request: pb.GetOpenResourceRequest, context: Context
    ) -> pb.GetOpenResourceResponse:
        async with self._rt.db.read() as conn:
            found = await store.get_entry(conn, _id(request.id), open_catalog=True)
        if found is None:
            raise NotFound("resource", request.id)
        return pb.GetOpenResourceResponse(resource=found)

    # --- public demands -----------------------------------------------------------------------

    @allow(THE_PUBLIC)
    async def CreateDemand(
        self, request: pb.CreateDemandRequest, context: Context
    ) -> pb.CreateDemandResponse:
        created = await demands.create(
            self._rt,
            require_principal(),
            request.demand,
            request_id=_request_id(request.request_id),
        )
        return pb.CreateDemandResponse(demand=created)

    @allow(ANONYMOUS)
    async def GetDemand(
        self, request: pb.GetDemandRequest, context: Context
    ) -> pb.GetDemandResponse:
        async with self._rt.db.read() as conn:
            found = await store.get_demand(conn, _id(request.id, "demand"))
        if found is None:
            raise NotFound("demand", request.id)
        return pb.GetDemandResponse(demand=found[0])

    @allow(ANONYMOUS)
    async def ListDemands(
        self, request: pb.ListDemandsRequest, context: Context
    ) -> pb.ListDemandsResponse:
        requester = ""
        if request.mine:
            principal = current_principal()
            if principal is None or principal.audience != "public":
                raise PermissionDenied("only signed-in citizens and enterprises have demands")
            requester = principal.subject
        if request.state not in pb.DemandState.values():
            raise InvalidArgument.of("state", f"has no value {request.state}")
        async with self._rt.db.read() as conn:
            page, after = await store.list_demands(
                conn,
                after=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
                requester=requester,
                state=request.state,
                department=request.department,
                overdue=request.overdue,
            )
        return pb.ListDemandsResponse(demands=page, next_page_token=encode_cursor(after))

    @allow(BUREAU)
    async def RouteDemand(
        self, request: pb.RouteDemandRequest, context: Context
    ) -> pb.RouteDemandResponse:
        _id(request.id, "demand")
        return pb.RouteDemandResponse(
            demand=await demands.route(self._rt, require_principal(), request)
        )

    @allow(OFFICERS)
    async def AnswerDemand(
        self, request: pb.AnswerDemandRequest, context: Context
    ) -> pb.AnswerDemandResponse:
        _id(request.id, "demand")
        return pb.AnswerDemandResponse(
            demand=await demands.answer(self._rt, require_principal(), request)
        )

    # --- evaluation ---------------------------------------------------------------------------

    @allow(OFFICE)
    async def ListScorecards(
        self, request: pb.ListScorecardsRequest, context: Context
    ) -> pb.ListScorecardsResponse:
        cards = await scorecards.scorecards(self._rt, require_principal(), request.department)
        return pb.ListScorecardsResponse(scorecards=cards)

    # --- shared steps -------------------------------------------------------------------------

    async def _visible(self, resource_id: str) -> pb.Resource:
        """A working copy the caller may see; others' drafts are as good as absent."""
        principal = require_principal()
        async with self._rt.db.read() as conn:
            found = await store.get_resource(conn, _id(resource_id))
        if found is None or not domain.can_see_working_copy(principal, found.provider_department):
            raise NotFound("resource", resource_id)
        return found

    async def _step(self, resource_id: str, action: str, authorise: Any, **kw: Any) -> pb.Resource:
        return await resources.step(
            self._rt,
            require_principal(),
            _id(resource_id),
            action=action,
            authorise=authorise,
            **kw,
        )

    async def _search(
        self, request: SearchRequest, *, open_catalog: bool
    ) -> tuple[list[pb.Resource], str]:
        key = (open_catalog, request.SerializeToString(deterministic=True))
        if (cached := self._searches.get(key)) is not None:
            return cached
        where = _catalog_filter(request, open_catalog=open_catalog)
        after = decode_key_cursor(request.page_token)
        async with self._rt.db.read() as conn:
            found, next_key = await store.search_entries(
                conn, where, after=after, limit=page_size(request.page_size)
            )
        answer = found, encode_key_cursor(next_key)
        self._searches.put(key, answer)
        return answer


POLICIES = policies_of(CatalogServicer, SERVICE)
