"""Catalog tables and queries."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import Migration, Reader, create_tables, now_us, page, timestamp
from smartcity.catalog.v1 import catalog_pb2

metadata = sa.MetaData()

resources = sa.Table(
    "resources",
    metadata,
    # seq orders pages and is the cursor; id is what clients see.
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("code", sa.String(40), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("provider_department", sa.String(20), nullable=False, index=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("share_type", sa.SmallInteger, nullable=False),
    sa.Column("open_type", sa.SmallInteger, nullable=False),
    sa.Column("update_cycle", sa.SmallInteger, nullable=False),
    sa.Column("data_grade", sa.SmallInteger, nullable=False),
    sa.Column("data_items", sa.JSON, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    # Idempotency: a retried create with the same request id returns the first result.
    sa.Column("request_id", sa.String(100), unique=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
)

MIGRATIONS = [Migration("catalog-0001-resources", create_tables(resources))]

_ITEM_FIELDS = ("name", "type", "description", "personal", "grade")


def _resource(row: sa.Row[tuple[object, ...]]) -> catalog_pb2.Resource:
    m = row._mapping
    return catalog_pb2.Resource(
        id=m["id"],
        code=m["code"],
        name=m["name"],
        provider_department=m["provider_department"],
        summary=m["summary"],
        share_type=m["share_type"],
        open_type=m["open_type"],
        update_cycle=m["update_cycle"],
        data_grade=m["data_grade"],
        data_items=[catalog_pb2.DataItem(**item) for item in m["data_items"]],
        version=m["version"],
        create_time=timestamp(m["created_us"]),
        update_time=timestamp(m["updated_us"]),
    )


async def insert_resource(
    conn: AsyncConnection,
    resource: catalog_pb2.Resource,
    *,
    resource_id: str,
    created_by: str,
    request_id: str | None,
) -> catalog_pb2.Resource:
    now = now_us()
    await conn.execute(
        resources.insert().values(
            id=resource_id,
            code=resource.code,
            name=resource.name,
            provider_department=resource.provider_department,
            summary=resource.summary,
            share_type=resource.share_type,
            open_type=resource.open_type,
            update_cycle=resource.update_cycle,
            data_grade=resource.data_grade,
            data_items=[
                {f: getattr(item, f) for f in _ITEM_FIELDS} for item in resource.data_items
            ],
            version=1,
            created_by=created_by,
            request_id=request_id,
            created_us=now,
            updated_us=now,
        )
    )
    created = await get_resource(conn, resource_id)
    assert created is not None
    return created


# Built once: the hot read skips statement construction and cache-key generation per call.
_BY_ID = sa.select(resources).where(resources.c.id == sa.bindparam("id"))


async def get_resource(conn: Reader, resource_id: str) -> catalog_pb2.Resource | None:
    row = (await conn.execute(_BY_ID, {"id": resource_id})).first()
    return None if row is None else _resource(row)


async def find_by_request_id(conn: Reader, request_id: str) -> catalog_pb2.Resource | None:
    query = sa.select(resources).where(resources.c.request_id == request_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _resource(row)


async def code_taken(conn: Reader, code: str) -> bool:
    return await conn.scalar(sa.select(resources.c.seq).where(resources.c.code == code)) is not None


async def list_resources(
    conn: Reader, *, after_seq: int, limit: int, provider_department: str = ""
) -> tuple[list[catalog_pb2.Resource], int | None]:
    """One page in creation order, and the seq to continue after (None on the last page)."""
    query = sa.select(resources)
    if provider_department:
        query = query.where(resources.c.provider_department == provider_department)
    rows, next_after = await page(
        conn, query, position=resources.c.seq, after=after_seq, limit=limit
    )
    return [_resource(r) for r in rows], next_after
