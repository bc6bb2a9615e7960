"""Exchange tables and queries.

- `known_resources`: the exchange's read model of the catalog, fed by catalog events.
- `datasets`, `records`, `batches`: the aggregated data of each resource and the batches that
  brought it (a record is a JSON object of data item -> text value).
- `share_requests`, `grants`: who asked for what, and what they may use until when.
- `interface_services`: registered query interfaces; `evidence`: one row per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import (
    SEQUENCE,
    Migration,
    Reader,
    add_missing_columns,
    create_tables,
    now_us,
    page,
    page_newest_first,
    timestamp,
)
from services.exchange import domain
from smartcity.catalog.v1 import events_pb2
from smartcity.exchange.v1 import exchange_pb2 as pb

metadata = sa.MetaData()

known_resources = sa.Table(
    "known_resources",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("resource_id", sa.String(36), nullable=False, unique=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("provider_department", sa.String(20), nullable=False),
    sa.Column("share_type", sa.SmallInteger, nullable=False),
    sa.Column("open_type", sa.SmallInteger, nullable=False),
    sa.Column("data_grade", sa.SmallInteger, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("learnt_us", sa.BigInteger, nullable=False),
    # listed in the share catalog: only then do other departments see it here; as of the
    # catalog's step at listed_us (published and withdrawn arrive on separate consumers)
    sa.Column("listed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("listed_us", sa.BigInteger, nullable=False, server_default="0"),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("resource_id", sa.String(36), primary_key=True),
    sa.Column("provider_department", sa.String(20), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("record_count", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("resource_id", sa.String(36), nullable=False, index=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
)

# Every value of every record, by field: an interface query is an index lookup, whatever the
# dataset's size. Long values are indexed by their first VALUE_KEY characters and compared whole.
VALUE_KEY = 100
record_values = sa.Table(
    "record_values",
    metadata,
    sa.Column("resource_id", sa.String(36), nullable=False),
    sa.Column("field", sa.String(100), nullable=False),
    sa.Column("value_key", sa.String(VALUE_KEY), nullable=False),
    # the value is all in value_key (no longer than VALUE_KEY)
    sa.Column("whole", sa.Boolean, nullable=False),
    sa.Column("record_seq", sa.BigInteger, nullable=False),
    sa.Index("record_values_lookup", "resource_id", "field", "value_key", "record_seq"),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("resource_id", sa.String(36), nullable=False, index=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("record_count", sa.BigInteger, nullable=False),
    sa.Column("replace", sa.Boolean, nullable=False),
    sa.Column("pushed_by", sa.String(36), nullable=False),
    # idempotency: a retried push with the same request id has no second effect
    sa.Column("request_id", sa.String(140), unique=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

share_requests = sa.Table(
    "share_requests",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("resource_id", sa.String(36), nullable=False),
    # "department:<code>" or "partner:<client id>"
    sa.Column("consumer", sa.String(60), nullable=False, index=True),
    sa.Column("provider_department", sa.String(20), nullable=False, index=True),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("legal_basis", sa.Text, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("duration_days", sa.Integer, nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("grant_id", sa.String(36), nullable=False),
    sa.Column("requested_by", sa.String(36), nullable=False),
    sa.Column("request_id", sa.String(140), unique=True),
    sa.Column("submitted_us", sa.BigInteger, nullable=False),
    sa.Column("due_us", sa.BigInteger, nullable=False),
    sa.Column("decided_us", sa.BigInteger),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("resource_id", sa.String(36), nullable=False),
    sa.Column("consumer", sa.String(60), nullable=False),
    sa.Column("provider_department", sa.String(20), nullable=False, index=True),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False),
    sa.Column("revoke_reason", sa.Text, nullable=False),
    sa.Column("share_request_id", sa.String(36), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Index("grants_consumer_resource", "consumer", "resource_id"),
)

interface_services = sa.Table(
    "interface_services",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("name", sa.String(84), nullable=False, unique=True),
    sa.Column("resource_id", sa.String(36), nullable=False, index=True),
    sa.Column("provider_department", sa.String(20), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("returned_fields", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

evidence = sa.Table(
    "evidence",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("interface_service", sa.String(84), nullable=False),
    sa.Column("resource_id", sa.String(36), nullable=False),
    sa.Column("consumer", sa.String(60), nullable=False, index=True),
    sa.Column("provider_department", sa.String(20), nullable=False, index=True),
    sa.Column("purpose", sa.String(200), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("result_count", sa.Integer, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("record_hash", sa.String(64), nullable=False),
    sa.Column("batch_id", sa.String(36), nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("resource_id", sa.String(36), nullable=False, index=True),
    sa.Column("consumer_department", sa.String(20), nullable=False, index=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("resource_id", "consumer_department"),
)

evidence_batches = sa.Table(
    "evidence_batches",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("record_hashes", sa.JSON, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False, index=True),
)

MIGRATIONS = [
    Migration("exchange-0001-known-resources", create_tables(known_resources)),
    Migration(
        "exchange-0002-datasets-sharing-interfaces-evidence",
        create_tables(
            datasets,
            records,
            record_values,
            batches,
            share_requests,
            grants,
            interface_services,
            evidence,
            evidence_batches,
            subscriptions,
        ),
    ),
    Migration("exchange-0003-known-resources-listed", add_missing_columns(known_resources)),
]


# --- the read model of the catalog ------------------------------------------------------------


async def learn_resource(conn: AsyncConnection, event: events_pb2.ResourceCreated) -> None:
    """Record a resource version; an older version never overwrites a newer one."""
    values = {
        "code": event.code,
        "provider_department": event.provider_department,
        "share_type": event.share_type,
        "open_type": event.open_type,
        "data_grade": event.data_grade,
        "version": event.version,
        "learnt_us": now_us(),
    }
    current = await conn.scalar(
        sa.select(known_resources.c.version).where(
            known_resources.c.resource_id == event.resource_id
        )
    )
    if current is None:
        await conn.execute(known_resources.insert().values(resource_id=event.resource_id, **values))
    elif current < event.version:
        await conn.execute(
            known_resources.update()
            .where(known_resources.c.resource_id == event.resource_id)
            .values(**values)
        )


def _known(row: sa.Row[tuple[object, ...]]) -> pb.ExchangeResource:
    m = row._mapping
    return pb.ExchangeResource(
        resource_id=m["resource_id"],
        code=m["code"],
        provider_department=m["provider_department"],
        share_type=m["share_type"],
        open_type=m["open_type"],
        data_grade=m["data_grade"],
        version=m["version"],
        learn_time=timestamp(m["learnt_us"]),
    )


async def learn_listing(
    conn: AsyncConnection, event: events_pb2.ResourceChanged, *, at_us: int
) -> None:
    """Whether a resource is in the share catalog as of the catalog's step at `at_us`; a step
    older than the one recorded changes nothing, whatever order the events arrive in."""
    k = known_resources.c
    done = await conn.execute(
        known_resources.update()
        .where((k.resource_id == event.resource_id) & (k.listed_us < at_us))
        .values(listed=event.in_share_catalog, listed_us=at_us)
    )
    if done.rowcount == 0 and not await conn.scalar(
        sa.select(k.seq).where(k.resource_id == event.resource_id)
    ):
        # the listing arrived before the creation: learn the resource from it
        await conn.execute(
            known_resources.insert().values(
                resource_id=event.resource_id,
                code=event.code,
                provider_department=event.provider_department,
                share_type=event.share_type,
                open_type=event.open_type,
                data_grade=event.data_grade,
                version=event.version,
                learnt_us=now_us(),
                listed=event.in_share_catalog,
                listed_us=at_us,
            )
        )


async def list_resources(
    conn: Reader, *, after_seq: int, limit: int, department: str | None
) -> tuple[list[pb.ExchangeResource], int | None]:
    """`department` sees its own resources and the listed ones; None: all (the Bureau)."""
    query = sa.select(known_resources)
    if department is not None:
        k = known_resources.c
        query = query.where((k.provider_department == department) | k.listed)
    rows, next_after = await page(
        conn, query, position=known_resources.c.seq, after=after_seq, limit=limit
    )
    return [_known(r) for r in rows], next_after


# --- datasets ----------------------------------------------------------------------------------


def _dataset(m: Any) -> pb.Dataset:
    return pb.Dataset(
        resource_id=m["resource_id"],
        provider_department=m["provider_department"],
        version=m["version"],
        record_count=m["record_count"],
        update_time=timestamp(m["updated_us"]),
    )


async def get_dataset(conn: Reader, resource_id: str) -> pb.Dataset | None:
    row = (
        await conn.execute(sa.select(datasets).where(datasets.c.resource_id == resource_id))
    ).first()
    return None if row is None else _dataset(row._mapping)


async def batch_by_request_id(conn: Reader, request_id: str) -> bool:
    found = await conn.scalar(sa.select(batches.c.id).where(batches.c.request_id == request_id))
    return found is not None


async def add_batch(
    conn: AsyncConnection,
    *,
    batch_id: str,
    resource_id: str,
    department: str,
    rows: Sequence[dict[str, str]],
    replace: bool,
    pushed_by: str,
    request_id: str | None,
) -> pb.Dataset:
    """Store a validated batch and move the dataset to its next version."""
    # the dataset's row is locked until the transaction ends: concurrent batches take turns
    locked = sa.select(datasets).where(datasets.c.resource_id == resource_id).with_for_update()
    row = (await conn.execute(locked)).first()
    current = None if row is None else _dataset(row._mapping)
    version = (current.version if current else 0) + 1
    now = now_us()
    if replace:
        await conn.execute(records.delete().where(records.c.resource_id == resource_id))
        await conn.execute(record_values.delete().where(record_values.c.resource_id == resource_id))
    inserted = await conn.execute(
        records.insert().returning(records.c.seq, sort_by_parameter_order=True),
        [{"resource_id": resource_id, "version": version, "fields": row} for row in rows],
    )
    seqs = inserted.scalars().all()
    await conn.execute(
        record_values.insert(),
        [
            {
                "resource_id": resource_id,
                "field": name,
                "value_key": value[:VALUE_KEY],
                "whole": len(value) <= VALUE_KEY,
                "record_seq": seq,
            }
            for seq, row in zip(seqs, rows, strict=True)
            for name, value in row.items()
        ],
    )
    count = await conn.scalar(
        sa.select(sa.func.count()).select_from(records).where(records.c.resource_id == resource_id)
    )
    values = {
        "provider_department": department,
        "version": version,
        "record_count": int(count or 0),
        "updated_us": now,
    }
    if current is None:
        await conn.execute(datasets.insert().values(resource_id=resource_id, **values))
    else:
        await conn.execute(
            datasets.update().where(datasets.c.resource_id == resource_id).values(**values)
        )
    await conn.execute(
        batches.insert().values(
            id=batch_id,
            resource_id=resource_id,
            version=version,
            record_count=len(rows),
            replace=replace,
            pushed_by=pushed_by,
            request_id=request_id,
            created_us=now,
        )
    )
    return pb.Dataset(
        resource_id=resource_id,
        provider_department=department,
        version=version,
        record_count=int(count or 0),
        update_time=timestamp(now),
    )


# The common query, built once: one parameter whose whole value is in the index.
_BY_ONE_VALUE = (
    sa.select(records.c.fields)
    .join(record_values, record_values.c.record_seq == records.c.seq)
    .where(
        (record_values.c.resource_id == sa.bindparam("resource_id"))
        & (record_values.c.field == sa.bindparam("field"))
        & (record_values.c.value_key == sa.bindparam("value"))
        & record_values.c.whole
    )
    .order_by(records.c.seq)
    .limit(sa.bindparam("limit"))
)


async def find_records(
    conn: Reader, resource_id: str, *, where: dict[str, str], limit: int
) -> list[dict[str, str]]:
    """Records whose fields equal `where`, oldest first: the first condition through the value
    index, the whole of every condition checked on the record (JSON paths: the same on both
    engines)."""
    if len(where) == 1:
        ((name, value),) = where.items()
        if len(value) <= VALUE_KEY:
            found = await conn.execute(
                _BY_ONE_VALUE,
                {"resource_id": resource_id, "field": name, "value": value, "limit": limit},
            )
            return [dict(row.fields) for row in found]
    r = records.c
    query = sa.select(r.fields).where(r.resource_id == resource_id)
    if where:
        name, value = next(iter(where.items()))
        v = record_values.c
        query = query.join(record_values, v.record_seq == r.seq).where(
            (v.resource_id == resource_id) & (v.field == name) & (v.value_key == value[:VALUE_KEY])
        )
    for name, value in where.items():
        query = query.where(r.fields[name].as_string() == value)
    rows = await conn.execute(query.order_by(r.seq).limit(limit))
    return [dict(row.fields) for row in rows]


# --- share requests and grants -----------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """A caller as a party to exchanges: what it consumes as, and the department it provides
    for (empty for a partner, which provides nothing)."""

    consumer: str
    department: str


def _share_request(m: Any, *, now: int) -> pb.ShareRequest:
    out = pb.ShareRequest(
        id=m["id"],
        resource_id=m["resource_id"],
        consumer=m["consumer"],
        provider_department=m["provider_department"],
        purpose=m["purpose"],
        legal_basis=m["legal_basis"],
        fields=m["fields"],
        duration_days=m["duration_days"],
        state=m["state"],
        reason=m["reason"],
        grant_id=m["grant_id"],
        submit_time=timestamp(m["submitted_us"]),
        due_time=timestamp(m["due_us"]),
        overdue=domain.share_request_overdue(state=m["state"], due_us=m["due_us"], now=now),
    )
    if m["decided_us"] is not None:
        out.decide_time.CopyFrom(timestamp(m["decided_us"]))
    return out


async def insert_share_request(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(share_requests.insert().values(**values))


async def update_share_request(conn: AsyncConnection, request_id: str, **values: Any) -> None:
    await conn.execute(
        share_requests.update().where(share_requests.c.id == request_id).values(**values)
    )


async def _with_grants(conn: Reader, found: list[pb.ShareRequest]) -> list[pb.ShareRequest]:
    """The share requests with their grants as granted (one query for a whole page)."""
    ids = [r.grant_id for r in found if r.grant_id]
    if ids:
        rows = await conn.execute(sa.select(grants).where(grants.c.id.in_(ids)))
        by_id = {row.id: _grant(row._mapping) for row in rows}
        for request in found:
            if request.grant_id in by_id:
                request.grant.CopyFrom(by_id[request.grant_id])
    return found


async def get_share_request(
    conn: Reader, request_id: str, *, for_update: bool = False
) -> pb.ShareRequest | None:
    query = sa.select(share_requests).where(share_requests.c.id == request_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return (await _with_grants(conn, [_share_request(row._mapping, now=now_us())]))[0]


async def share_request_by_request_id(conn: Reader, request_id: str) -> pb.ShareRequest | None:
    row = (
        await conn.execute(
            sa.select(share_requests).where(share_requests.c.request_id == request_id)
        )
    ).first()
    if row is None:
        return None
    return (await _with_grants(conn, [_share_request(row._mapping, now=now_us())]))[0]


async def list_share_requests(
    conn: Reader,
    *,
    party: Party | None,
    state: int,
    overdue: bool,
    after: int,
    limit: int,
) -> tuple[list[pb.ShareRequest], int | None]:
    """Newest first: those the party asked for or provides; `party` None: all (the Bureau)."""
    s = share_requests.c
    now = now_us()
    query = sa.select(share_requests)
    if party is not None:
        query = query.where(
            (s.consumer == party.consumer) | (s.provider_department == party.department)
        )
    if state:
        query = query.where(s.state == state)
    if overdue:
        query = query.where((s.state == pb.SHARE_REQUEST_STATE_PENDING) & (s.due_us < now))
    rows, below = await page_newest_first(conn, query, position=s.seq, before=after, limit=limit)
    found = await _with_grants(conn, [_share_request(r._mapping, now=now) for r in rows])
    return found, below


def _grant(m: Any) -> pb.Grant:
    return pb.Grant(
        id=m["id"],
        resource_id=m["resource_id"],
        consumer=m["consumer"],
        provider_department=m["provider_department"],
        fields=m["fields"],
        expire_time=timestamp(m["expires_us"]),
        revoked=m["revoked"],
        revoke_reason=m["revoke_reason"],
        share_request_id=m["share_request_id"],
        create_time=timestamp(m["created_us"]),
    )


async def insert_grant(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(grants.insert().values(**values))


async def get_grant(conn: Reader, grant_id: str) -> pb.Grant | None:
    row = (await conn.execute(sa.select(grants).where(grants.c.id == grant_id))).first()
    return None if row is None else _grant(row._mapping)


async def revoke_grant(conn: AsyncConnection, grant_id: str, *, reason: str) -> None:
    await conn.execute(
        grants.update().where(grants.c.id == grant_id).values(revoked=True, revoke_reason=reason)
    )


async def active_grant(
    conn: Reader, *, consumer: str, resource_id: str, now: int
) -> pb.Grant | None:
    """The consumer's live grant of the resource that expires last, if any."""
    g = grants.c
    row = (
        await conn.execute(
            sa.select(grants)
            .where(
                (g.consumer == consumer)
                & (g.resource_id == resource_id)
                & g.revoked.is_(False)
                & (g.expires_us > now)
            )
            .order_by(g.expires_us.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else _grant(row._mapping)


async def list_grants(
    conn: Reader, *, party: Party | None, after: int, limit: int
) -> tuple[list[pb.Grant], int | None]:
    g = grants.c
    query = sa.select(grants)
    if party is not None:
        query = query.where(
            (g.consumer == party.consumer) | (g.provider_department == party.department)
        )
    rows, below = await page_newest_first(conn, query, position=g.seq, before=after, limit=limit)
    return [_grant(r._mapping) for r in rows], below


# --- interface services and evidence ------------------------------------------------------------


def _interface(m: Any) -> pb.InterfaceService:
    return pb.InterfaceService(
        name=m["name"],
        resource_id=m["resource_id"],
        provider_department=m["provider_department"],
        description=m["description"],
        parameters=m["parameters"],
        returned_fields=m["returned_fields"],
        create_time=timestamp(m["created_us"]),
    )


async def insert_interface(conn: AsyncConnection, service: pb.InterfaceService) -> None:
    await conn.execute(
        interface_services.insert().values(
            name=service.name,
            resource_id=service.resource_id,
            provider_department=service.provider_department,
            description=service.description,
            parameters=list(service.parameters),
            returned_fields=list(service.returned_fields),
            created_us=now_us(),
        )
    )


_INTERFACE_BY_NAME = sa.select(interface_services).where(
    interface_services.c.name == sa.bindparam("name")
)


async def get_interface(conn: Reader, name: str) -> pb.InterfaceService | None:
    row = (await conn.execute(_INTERFACE_BY_NAME, {"name": name})).first()
    return None if row is None else _interface(row._mapping)


async def list_interfaces(
    conn: Reader, *, resource_id: str, after: int, limit: int
) -> tuple[list[pb.InterfaceService], int | None]:
    query = sa.select(interface_services)
    if resource_id:
        query = query.where(interface_services.c.resource_id == resource_id)
    rows, next_after = await page(
        conn, query, position=interface_services.c.seq, after=after, limit=limit
    )
    return [_interface(r._mapping) for r in rows], next_after


async def insert_evidence(
    conn: AsyncConnection,
    rows: Sequence[dict[str, Any]],
    *,
    batch_id: str,
    digest: str,
    signature: str,
) -> None:
    await conn.execute(
        evidence_batches.insert().values(
            id=batch_id,
            record_hashes=[r["record_hash"] for r in rows],
            digest=digest,
            signature=signature,
            created_us=now_us(),
        )
    )
    await conn.execute(evidence.insert(), [{**r, "batch_id": batch_id} for r in rows])


async def delete_evidence_before(conn: AsyncConnection, before_us: int) -> int:
    done = await conn.execute(evidence.delete().where(evidence.c.at_us < before_us))
    await conn.execute(evidence_batches.delete().where(evidence_batches.c.created_us < before_us))
    return int(done.rowcount or 0)


async def get_evidence_batch(conn: Reader, batch_id: str) -> pb.EvidenceBatch | None:
    row = (
        await conn.execute(sa.select(evidence_batches).where(evidence_batches.c.id == batch_id))
    ).first()
    if row is None:
        return None
    m = row._mapping
    return pb.EvidenceBatch(
        id=m["id"],
        record_hashes=m["record_hashes"],
        digest=m["digest"],
        signature=m["signature"],
        create_time=timestamp(m["created_us"]),
    )


async def batch_visible_to(conn: Reader, batch_id: str, *, consumer: str, department: str) -> bool:
    """Whether the batch holds a record of this consumer's or provider's."""
    e = evidence.c
    found = await conn.scalar(
        sa.select(e.seq)
        .where(
            (e.batch_id == batch_id)
            & ((e.consumer == consumer) | (e.provider_department == department))
        )
        .limit(1)
    )
    return found is not None


async def list_evidence(
    conn: Reader, *, consumer: str | None, department: str | None, after: int, limit: int
) -> tuple[list[pb.Evidence], int | None]:
    """Newest first: a department sees what it asked as consumer and what it answered as
    provider; both None: everything (the Bureau)."""
    e = evidence.c
    query = sa.select(evidence)
    if consumer is not None or department is not None:
        query = query.where((e.consumer == consumer) | (e.provider_department == department))
    rows, below = await page_newest_first(conn, query, position=e.seq, before=after, limit=limit)
    found = [
        pb.Evidence(
            id=m["id"],
            interface_service=m["interface_service"],
            resource_id=m["resource_id"],
            consumer=m["consumer"],
            provider_department=m["provider_department"],
            purpose=m["purpose"],
            request_hash=m["request_hash"],
            result_count=m["result_count"],
            time=timestamp(m["at_us"]),
            record_hash=m["record_hash"],
            batch_id=m["batch_id"],
        )
        for m in (r._mapping for r in rows)
    ]
    return found, below


# --- subscriptions -----------------------------------------------------------------------------


def _subscription(m: Any) -> pb.Subscription:
    return pb.Subscription(
        id=m["id"],
        resource_id=m["resource_id"],
        consumer_department=m["consumer_department"],
        create_time=timestamp(m["created_us"]),
    )


async def insert_subscription(conn: AsyncConnection, subscription: pb.Subscription) -> None:
    await conn.execute(
        subscriptions.insert().values(
            id=subscription.id,
            resource_id=subscription.resource_id,
            consumer_department=subscription.consumer_department,
            created_us=now_us(),
        )
    )


async def get_subscription(conn: Reader, subscription_id: str) -> pb.Subscription | None:
    row = (
        await conn.execute(sa.select(subscriptions).where(subscriptions.c.id == subscription_id))
    ).first()
    return None if row is None else _subscription(row._mapping)


async def delete_subscription(conn: AsyncConnection, subscription_id: str) -> None:
    await conn.execute(subscriptions.delete().where(subscriptions.c.id == subscription_id))


async def department_subscriptions(conn: Reader, department: str) -> list[pb.Subscription]:
    rows = await conn.execute(
        sa.select(subscriptions)
        .where(subscriptions.c.consumer_department == department)
        .order_by(subscriptions.c.seq)
    )
    return [_subscription(r._mapping) for r in rows]


async def resource_subscriptions(conn: Reader, resource_id: str) -> list[pb.Subscription]:
    rows = await conn.execute(
        sa.select(subscriptions).where(subscriptions.c.resource_id == resource_id)
    )
    return [_subscription(r._mapping) for r in rows]


async def changes(
    conn: Reader, resource_id: str, *, after_version: int, after_seq: int, limit: int
) -> tuple[list[dict[str, str]], int | None]:
    """Records added after a dataset version, oldest first, and the seq to continue after."""
    r = records.c
    rows = (
        await conn.execute(
            sa.select(r.seq, r.fields)
            .where(
                (r.resource_id == resource_id) & (r.version > after_version) & (r.seq > after_seq)
            )
            .order_by(r.seq)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [dict(row.fields) for row in rows], (int(rows[-1].seq) if more else None)
