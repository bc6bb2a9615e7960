"""Subscriptions: a consumer department with a grant follows a resource's new records. Each
accepted batch is announced on `smartcity.exchange.delivery.<department>` (a subject per
consumer, in the same transaction as the batch), and the department reads what it has not seen
with ListChanges, masked as its grant says; each page read is kept as evidence."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.auth import Principal
from runtime.bus import contracts
from runtime.bus.events import EventType
from runtime.bus.outbox import enqueue
from runtime.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from runtime.pagination import decode_cursor, encode_cursor
from runtime.service import ServiceRuntime
from runtime.storage import Reader, now_us
from services.exchange import domain, store
from services.exchange.evidence import EvidenceLog
from services.exchange.share_catalog import ShareCatalog
from smartcity.exchange.v1 import events_pb2
from smartcity.exchange.v1 import exchange_pb2 as pb

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def delivery_subject(department: str) -> EventType[events_pb2.DeliveryAvailable]:
    """Each consumer department's own subject: what it reads, nobody else's."""
    return contracts.templated(events_pb2.DeliveryAvailable, department=department)


async def _live_grant(conn: Reader, department: str, resource_id: str) -> pb.Grant:
    grant = await store.active_grant(
        conn,
        consumer=f"department:{department}",
        resource_id=resource_id,
        now=now_us(),
    )
    if grant is None:
        raise PermissionDenied("the department holds no live grant of this resource")
    return grant


async def create(
    rt: ServiceRuntime, principal: Principal, subscription: pb.Subscription
) -> pb.Subscription:
    if principal.kind != "staff" or not principal.department:
        raise PermissionDenied("departments subscribe; partners follow events (partner entry)")
    created = pb.Subscription(
        id=str(uuid.uuid4()),
        resource_id=subscription.resource_id,
        consumer_department=principal.department,
    )
    try:
        async with rt.unit_of_work() as uow:
            await _live_grant(uow.conn, principal.department, subscription.resource_id)
            await store.insert_subscription(uow.conn, created)
            await uow.audit(
                "exchange.subscription.created",
                principal=principal,
                resource_type="subscription",
                resource_id=created.id,
            )
            found = await store.get_subscription(uow.conn, created.id)
    except IntegrityError:
        raise AlreadyExists("the department subscribes to this resource already") from None
    assert found is not None
    return found


async def delete(rt: ServiceRuntime, principal: Principal, subscription_id: str) -> None:
    async with rt.unit_of_work() as uow:
        await _own(uow.conn, principal, subscription_id)
        await store.delete_subscription(uow.conn, subscription_id)
        await uow.audit(
            "exchange.subscription.deleted",
            principal=principal,
            resource_type="subscription",
            resource_id=subscription_id,
        )


async def changes(
    rt: ServiceRuntime,
    catalog: ShareCatalog,
    evidence: EvidenceLog,
    principal: Principal,
    request: pb.ListChangesRequest,
) -> pb.ListChangesResponse:
    limit = request.page_size or DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument.of("page_size", f"must be 1 to {MAX_PAGE}")
    async with rt.db.read() as conn:
        subscription = await _own(conn, principal, request.subscription_id)
        grant = await _live_grant(conn, principal.department, subscription.resource_id)
        rows, after = await store.changes(
            conn,
            subscription.resource_id,
            after_version=request.after_version,
            after_seq=decode_cursor(request.page_token),
            limit=limit,
        )
        dataset = await store.get_dataset(conn, subscription.resource_id)
    entry = await catalog.entry(subscription.resource_id)
    answered, masked = domain.mask(
        rows, returned=[item.name for item in entry.data_items], granted=grant.fields
    )
    evidence_id = str(uuid.uuid4())
    evidence.add(
        {
            "id": evidence_id,
            "interface_service": f"subscription:{subscription.id}",
            "resource_id": subscription.resource_id,
            "consumer": domain.consumer_of(principal),
            "provider_department": entry.provider_department,
            "purpose": "subscription delivery",
            "request_hash": domain.request_hash(
                subscription.id, {"after_version": str(request.after_version)}
            ),
            "result_count": len(answered),
            "at_us": now_us(),
        }
    )
    return pb.ListChangesResponse(
        records=[pb.Record(fields=row) for row in answered],
        dataset_version=dataset.version if dataset else 0,
        masked_fields=masked,
        next_page_token=encode_cursor(after),
        evidence_id=evidence_id,
    )


async def announce(
    conn: AsyncConnection, dataset: pb.Dataset, *, batch_size: int, replaced: bool
) -> None:
    """In the batch's transaction: tell each subscriber that still holds a grant."""
    now = now_us()
    for subscription in await store.resource_subscriptions(conn, dataset.resource_id):
        grant = await store.active_grant(
            conn,
            consumer=f"department:{subscription.consumer_department}",
            resource_id=dataset.resource_id,
            now=now,
        )
        if grant is None:
            continue
        await enqueue(
            conn,
            delivery_subject(subscription.consumer_department),
            events_pb2.DeliveryAvailable(
                subscription_id=subscription.id,
                resource_id=dataset.resource_id,
                consumer_department=subscription.consumer_department,
                dataset_version=dataset.version,
                record_count=batch_size,
                replaced=replaced,
            ),
            entity_id=subscription.id,
        )


async def _own(conn: Reader, principal: Principal, subscription_id: str) -> pb.Subscription:
    found = await store.get_subscription(conn, subscription_id)
    if found is None or found.consumer_department != principal.department:
        raise NotFound("subscription", subscription_id)
    return found
