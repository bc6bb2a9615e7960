"""Aggregation (数据归集, Art. 11, 13): a provider pushes batches of records for a published
resource; each accepted batch is a new version of the dataset, announced on
`smartcity.exchange.dataset.updated` (which feeds the catalog's freshness score)."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from runtime import logs
from runtime.auth import Principal
from runtime.errors import AlreadyExists, NotFound
from runtime.service import ServiceRuntime
from services.exchange import domain, events, store, subscriptions
from services.exchange.share_catalog import ShareCatalog
from smartcity.exchange.v1 import events_pb2
from smartcity.exchange.v1 import exchange_pb2 as pb

log = logs.get(__name__)


async def push(
    rt: ServiceRuntime,
    catalog: ShareCatalog,
    principal: Principal,
    request: pb.PushRecordsRequest,
) -> pb.Dataset:
    entry = await catalog.entry(request.resource_id)
    domain.authorise_push(principal, entry)
    rows = domain.validate_records(request.records, entry.data_items)
    scoped = f"{principal.subject}/{request.request_id}" if request.request_id else None
    try:
        async with rt.unit_of_work() as uow:
            if scoped and await store.batch_by_request_id(uow.conn, scoped):
                found = await store.get_dataset(uow.conn, request.resource_id)
                assert found is not None
                return found
            dataset = await store.add_batch(
                uow.conn,
                batch_id=str(uuid.uuid4()),
                resource_id=entry.id,
                department=entry.provider_department,
                rows=rows,
                replace=request.replace,
                pushed_by=principal.subject,
                request_id=scoped,
            )
            await uow.publish(
                events.DATASET_UPDATED,
                events_pb2.DatasetUpdated(
                    resource_id=dataset.resource_id,
                    provider_department=dataset.provider_department,
                    version=dataset.version,
                    record_count=dataset.record_count,
                    update_time=dataset.update_time,
                ),
                entity_id=dataset.resource_id,
            )
            await subscriptions.announce(
                uow.conn, dataset, batch_size=len(rows), replaced=request.replace
            )
            await uow.audit(
                "exchange.dataset.updated",
                principal=principal,
                resource_type="dataset",
                resource_id=dataset.resource_id,
            )
    except IntegrityError:
        raise AlreadyExists("this batch was pushed already (same Idempotency-Key)") from None
    log.info("dataset_updated", resource_id=dataset.resource_id, version=dataset.version)
    return dataset


async def get(rt: ServiceRuntime, resource_id: str) -> pb.Dataset:
    async with rt.db.read() as conn:
        found = await store.get_dataset(conn, resource_id)
    if found is None:
        raise NotFound("dataset", resource_id)
    return found
