"""Exchange tables: its own read model of the catalog, fed by catalog events."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import Migration, Reader, create_tables, now_us, page, timestamp
from smartcity.catalog.v1 import events_pb2
from smartcity.exchange.v1 import exchange_pb2

metadata = sa.MetaData()

known_resources = sa.Table(
    "known_resources",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("resource_id", sa.String(36), nullable=False, unique=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("provider_department", sa.String(20), nullable=False),
    sa.Column("share_type", sa.SmallInteger, nullable=False),
    sa.Column("open_type", sa.SmallInteger, nullable=False),
    sa.Column("data_grade", sa.SmallInteger, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("learnt_us", sa.BigInteger, nullable=False),
)

MIGRATIONS = [Migration("exchange-0001-known-resources", create_tables(known_resources))]


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


def _resource(row: sa.Row[tuple[object, ...]]) -> exchange_pb2.ExchangeResource:
    m = row._mapping
    return exchange_pb2.ExchangeResource(
        resource_id=m["resource_id"],
        code=m["code"],
        provider_department=m["provider_department"],
        share_type=m["share_type"],
        open_type=m["open_type"],
        data_grade=m["data_grade"],
        version=m["version"],
        learn_time=timestamp(m["learnt_us"]),
    )


async def list_resources(
    conn: Reader, *, after_seq: int, limit: int
) -> tuple[list[exchange_pb2.ExchangeResource], int | None]:
    rows, next_after = await page(
        conn,
        sa.select(known_resources),
        position=known_resources.c.seq,
        after=after_seq,
        limit=limit,
    )
    return [_resource(r) for r in rows], next_after
