"""ExchangeService over gRPC: translate, authorise, delegate.

The `@allow` lines say who may call at all; the domain decides what each caller may do with
which resource, request, grant and interface (own department, the provider's approvers, the
Big Data Bureau).
"""

from __future__ import annotations

from typing import TypeAlias

import grpc

from runtime.auth import OFFICE, Policy, allow, policies_of, require_principal
from runtime.errors import InvalidArgument, NotFound
from runtime.pagination import decode_cursor, encode_cursor, page_size
from runtime.service import ServiceRuntime
from services.exchange import datasets, domain, sharing, store, subscriptions
from services.exchange.evidence import EvidenceLog, keys_signer
from services.exchange.interfaces import Interfaces, code_checker, report_code_uses
from services.exchange.share_catalog import ShareCatalog
from smartcity.exchange.v1 import exchange_pb2 as pb
from smartcity.exchange.v1 import exchange_pb2_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["ExchangeService"].full_name
# Which members of staff may call each method: the role table, runtime/roles.py; the names
# below say whom each method is for.
OFFICERS = OFFICE
APPROVERS = OFFICE
REVOKERS = OFFICE
CONSUMERS = Policy(audiences=("office", "partner"))
MAX_ID = 100
Context: TypeAlias = grpc.aio.ServicerContext


def _id(value: str, what: str) -> str:
    if not value or len(value) > MAX_ID:
        raise NotFound(what, value[:MAX_ID])
    return value


class ExchangeServicer(exchange_pb2_grpc.ExchangeServiceServicer):
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt
        self._catalog = ShareCatalog(rt)
        self.evidence = EvidenceLog(
            rt.db, retention_days=rt.settings.evidence_retention_days, sign=keys_signer(rt)
        )
        self.checker = code_checker(rt)
        self._interfaces = Interfaces(
            rt, catalog=self._catalog, checker=self.checker, evidence=self.evidence
        )

    @allow(OFFICE)
    async def ListResources(
        self, request: pb.ListResourcesRequest, context: Context
    ) -> pb.ListResourcesResponse:
        principal = require_principal()
        async with self._rt.db.read() as conn:
            found, after = await store.list_resources(
                conn,
                after_seq=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
                # other departments' drafts are not theirs to see
                department=None if domain.is_bureau(principal) else principal.department,
            )
        return pb.ListResourcesResponse(resources=found, next_page_token=encode_cursor(after))

    # --- aggregation ------------------------------------------------------------------------

    @allow(OFFICERS)
    async def PushRecords(
        self, request: pb.PushRecordsRequest, context: Context
    ) -> pb.PushRecordsResponse:
        _id(request.resource_id, "resource")
        if len(request.request_id) > MAX_ID:
            raise InvalidArgument.of("request_id", f"is longer than {MAX_ID} characters")
        dataset = await datasets.push(self._rt, self._catalog, require_principal(), request)
        return pb.PushRecordsResponse(dataset=dataset)

    @allow(OFFICE)
    async def GetDataset(
        self, request: pb.GetDatasetRequest, context: Context
    ) -> pb.GetDatasetResponse:
        return pb.GetDatasetResponse(
            dataset=await datasets.get(self._rt, _id(request.resource_id, "dataset"))
        )

    # --- share requests and grants ----------------------------------------------------------

    @allow(CONSUMERS)
    async def CreateShareRequest(
        self, request: pb.CreateShareRequestRequest, context: Context
    ) -> pb.CreateShareRequestResponse:
        _id(request.share_request.resource_id, "resource")
        if len(request.request_id) > MAX_ID:
            raise InvalidArgument.of("request_id", f"is longer than {MAX_ID} characters")
        created = await sharing.create(
            self._rt,
            self._catalog,
            require_principal(),
            request.share_request,
            request_id=request.request_id,
        )
        return pb.CreateShareRequestResponse(share_request=created)

    @allow(CONSUMERS)
    async def GetShareRequest(
        self, request: pb.GetShareRequestRequest, context: Context
    ) -> pb.GetShareRequestResponse:
        found = await sharing.get(self._rt, require_principal(), _id(request.id, "share request"))
        return pb.GetShareRequestResponse(share_request=found)

    @allow(CONSUMERS)
    async def ListShareRequests(
        self, request: pb.ListShareRequestsRequest, context: Context
    ) -> pb.ListShareRequestsResponse:
        if request.state not in pb.ShareRequestState.values():
            raise InvalidArgument.of("state", f"has no value {request.state}")
        async with self._rt.db.read() as conn:
            found, after = await store.list_share_requests(
                conn,
                party=sharing.party(require_principal()),
                state=request.state,
                overdue=request.overdue,
                after=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
            )
        return pb.ListShareRequestsResponse(
            share_requests=found, next_page_token=encode_cursor(after)
        )

    @allow(APPROVERS)
    async def DecideShareRequest(
        self, request: pb.DecideShareRequestRequest, context: Context
    ) -> pb.DecideShareRequestResponse:
        _id(request.id, "share request")
        decided = await sharing.decide(self._rt, require_principal(), request)
        return pb.DecideShareRequestResponse(share_request=decided)

    @allow(CONSUMERS)
    async def ListGrants(
        self, request: pb.ListGrantsRequest, context: Context
    ) -> pb.ListGrantsResponse:
        async with self._rt.db.read() as conn:
            found, after = await store.list_grants(
                conn,
                party=sharing.party(require_principal()),
                after=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
            )
        return pb.ListGrantsResponse(grants=found, next_page_token=encode_cursor(after))

    @allow(REVOKERS)
    async def RevokeGrant(
        self, request: pb.RevokeGrantRequest, context: Context
    ) -> pb.RevokeGrantResponse:
        _id(request.id, "grant")
        revoked = await sharing.revoke(self._rt, require_principal(), request)
        self._interfaces.forget_grants()  # here at once; other replicas on the event
        return pb.RevokeGrantResponse(grant=revoked)

    # --- interface services and evidence ----------------------------------------------------

    @allow(OFFICERS)
    async def CreateInterfaceService(
        self, request: pb.CreateInterfaceServiceRequest, context: Context
    ) -> pb.CreateInterfaceServiceResponse:
        _id(request.interface_service.resource_id, "resource")
        created = await self._interfaces.create(require_principal(), request.interface_service)
        return pb.CreateInterfaceServiceResponse(interface_service=created)

    @allow(CONSUMERS)
    async def ListInterfaceServices(
        self, request: pb.ListInterfaceServicesRequest, context: Context
    ) -> pb.ListInterfaceServicesResponse:
        async with self._rt.db.read() as conn:
            found, after = await store.list_interfaces(
                conn,
                resource_id=request.resource_id,
                after=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
            )
        return pb.ListInterfaceServicesResponse(
            interface_services=found, next_page_token=encode_cursor(after)
        )

    @allow(CONSUMERS)
    async def GetInterfaceServiceOpenApi(
        self, request: pb.GetInterfaceServiceOpenApiRequest, context: Context
    ) -> pb.GetInterfaceServiceOpenApiResponse:
        document = await self._interfaces.openapi(_id(request.name, "interface service"))
        return pb.GetInterfaceServiceOpenApiResponse(document=document)

    @allow(CONSUMERS)
    async def QueryInterfaceService(
        self, request: pb.QueryInterfaceServiceRequest, context: Context
    ) -> pb.QueryInterfaceServiceResponse:
        _id(request.name, "interface service")
        return await self._interfaces.query(require_principal(), request)

    @allow(OFFICE)
    async def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: Context
    ) -> pb.CreateSubscriptionResponse:
        _id(request.subscription.resource_id, "resource")
        created = await subscriptions.create(self._rt, require_principal(), request.subscription)
        return pb.CreateSubscriptionResponse(subscription=created)

    @allow(OFFICE)
    async def ListSubscriptions(
        self, request: pb.ListSubscriptionsRequest, context: Context
    ) -> pb.ListSubscriptionsResponse:
        async with self._rt.db.read() as conn:
            found = await store.department_subscriptions(conn, require_principal().department)
        return pb.ListSubscriptionsResponse(subscriptions=found)

    @allow(OFFICE)
    async def DeleteSubscription(
        self, request: pb.DeleteSubscriptionRequest, context: Context
    ) -> pb.DeleteSubscriptionResponse:
        await subscriptions.delete(self._rt, require_principal(), _id(request.id, "subscription"))
        return pb.DeleteSubscriptionResponse()

    @allow(OFFICE)
    async def ListChanges(
        self, request: pb.ListChangesRequest, context: Context
    ) -> pb.ListChangesResponse:
        _id(request.subscription_id, "subscription")
        return await subscriptions.changes(
            self._rt, self._catalog, self.evidence, require_principal(), request
        )

    @allow(CONSUMERS)
    async def GetEvidenceBatch(
        self, request: pb.GetEvidenceBatchRequest, context: Context
    ) -> pb.GetEvidenceBatchResponse:
        principal = require_principal()
        batch_id = _id(request.id, "evidence batch")
        async with self._rt.db.read() as conn:
            consumer, department = domain.party_of(principal)
            visible = domain.is_bureau(principal) or await store.batch_visible_to(
                conn, batch_id, consumer=consumer, department=department
            )
            batch = await store.get_evidence_batch(conn, batch_id) if visible else None
        if batch is None:
            if not visible:
                # someone else's evidence, or none at all: refused the same way, and recorded
                await self._rt.audit_denied(
                    action="exchange.evidence_batch.read",
                    principal=principal,
                    resource_type="evidence_batch",
                    resource_id=batch_id,
                )
            raise NotFound("evidence batch", batch_id)
        return pb.GetEvidenceBatchResponse(batch=batch)

    @allow(CONSUMERS)
    async def ListEvidence(
        self, request: pb.ListEvidenceRequest, context: Context
    ) -> pb.ListEvidenceResponse:
        principal = require_principal()
        # the caller's own queries are listed at once, not after the next batch
        await self.evidence.flush()
        bureau = domain.is_bureau(principal)
        consumer, department = domain.party_of(principal)
        async with self._rt.db.read() as conn:
            found, after = await store.list_evidence(
                conn,
                consumer=None if bureau else consumer,
                department=None if bureau else (department or None),
                after=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
            )
        return pb.ListEvidenceResponse(evidence=found, next_page_token=encode_cursor(after))


POLICIES = policies_of(ExchangeServicer, SERVICE)


def create_servicer(rt: ServiceRuntime) -> ExchangeServicer:
    """The servicer, with the background work it starts."""
    servicer = ExchangeServicer(rt)
    rt.background(servicer.evidence.run(), name="exchange-evidence")
    rt.background(servicer.evidence.purge(), name="exchange-evidence-retention")
    rt.background(report_code_uses(rt, servicer.checker), name="exchange-code-uses")
    return servicer
