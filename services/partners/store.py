"""Partners tables and queries.

- `entitlements`: which partner may receive which event type (revoked rows are kept).
- `partner_grants`: the exchange grants partners hold, learnt from the exchange's events, for
  the data changes they are entitled to.
- `nats_keys`: each partner's NKEY public key (no secret is ever stored for NATS).
- `webhooks`: partners' endpoints, their signing secrets sealed with SM4-GCM.
- `deliveries`: each event's delivery to each endpoint: attempts, last failure, state.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import SEQUENCE, Migration, Reader, create_tables, page_newest_first

metadata = sa.MetaData()

entitlements = sa.Table(
    "entitlements",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("event_type", sa.String(120), primary_key=True),
    sa.Column("granted_by", sa.String(64), nullable=False),
    sa.Column("granted_us", sa.BigInteger, nullable=False),
    sa.Column("revoked_us", sa.BigInteger),
    sa.Index("ix_entitlements_type", "event_type", "client_id"),
)

partner_grants = sa.Table(
    "partner_grants",
    metadata,
    sa.Column("grant_id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(36), nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_partner_grants_resource", "resource_id", "client_id"),
)

nats_keys = sa.Table(
    "nats_keys",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("public_key", sa.String(56), nullable=False, unique=True),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False, index=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.LargeBinary, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("deleted_us", sa.BigInteger),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(80), nullable=False, unique=True),  # "<webhook>:<sequence>"
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("webhook_id", sa.String(36), nullable=False),
    sa.Column("event_id", sa.String(80), nullable=False),
    sa.Column("event_type", sa.String(120), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_status", sa.Integer, nullable=False),
    sa.Column("last_error", sa.String(300), nullable=False),
    sa.Column("first_us", sa.BigInteger, nullable=False),
    sa.Column("last_us", sa.BigInteger, nullable=False),
    sa.Index("ix_deliveries_client", "client_id", "seq"),
)

MIGRATIONS = [
    Migration(
        "partners-0001-entitlements-grants-keys-webhooks-deliveries",
        create_tables(entitlements, partner_grants, nats_keys, webhooks, deliveries),
    ),
]

Row = sa.Row[Any]


# --- entitlements ------------------------------------------------------------------------------


async def grant_entitlement(
    conn: AsyncConnection, *, client_id: str, event_type: str, by: str, at_us: int
) -> None:
    e = entitlements.c
    done = await conn.execute(
        entitlements.update()
        .where(e.client_id == client_id, e.event_type == event_type)
        .values(granted_by=by, granted_us=at_us, revoked_us=None)
    )
    if done.rowcount == 0:
        await conn.execute(
            entitlements.insert().values(
                client_id=client_id, event_type=event_type, granted_by=by, granted_us=at_us
            )
        )


async def revoke_entitlement(
    conn: AsyncConnection, *, client_id: str, event_type: str, at_us: int
) -> bool:
    e = entitlements.c
    done = await conn.execute(
        entitlements.update()
        .where(e.client_id == client_id, e.event_type == event_type, e.revoked_us.is_(None))
        .values(revoked_us=at_us)
    )
    return done.rowcount == 1


async def entitlement(conn: Reader, *, client_id: str, event_type: str) -> Row | None:
    e = entitlements.c
    query = sa.select(entitlements).where(e.client_id == client_id, e.event_type == event_type)
    return (await conn.execute(query)).first()


async def active_entitlements(conn: Reader, *, client_id: str) -> list[Row]:
    e = entitlements.c
    query = (
        sa.select(entitlements)
        .where(e.client_id == client_id, e.revoked_us.is_(None))
        .order_by(e.event_type)
    )
    return list((await conn.execute(query)).all())


# Built once: the fan-out asks it for every event it reads.
_ENTITLED = (
    sa.select(entitlements.c.client_id)
    .where(
        entitlements.c.event_type == sa.bindparam("event_type"),
        entitlements.c.revoked_us.is_(None),
    )
    .order_by(entitlements.c.client_id)
)


async def entitled_clients(conn: Reader, event_type: str) -> list[str]:
    return [str(c) for c in (await conn.execute(_ENTITLED, {"event_type": event_type})).scalars()]


# --- the partners' exchange grants ---------------------------------------------------------------


async def learn_grant(
    conn: AsyncConnection, *, grant_id: str, client_id: str, resource_id: str, expires_us: int
) -> None:
    found = await conn.scalar(
        sa.select(partner_grants.c.grant_id).where(partner_grants.c.grant_id == grant_id)
    )
    if found is None:
        await conn.execute(
            partner_grants.insert().values(
                grant_id=grant_id,
                client_id=client_id,
                resource_id=resource_id,
                expires_us=expires_us,
            )
        )


async def forget_grant(conn: AsyncConnection, grant_id: str) -> None:
    await conn.execute(
        partner_grants.update().where(partner_grants.c.grant_id == grant_id).values(revoked=True)
    )


async def holds_grant(conn: Reader, *, client_id: str, resource_id: str, now_us: int) -> bool:
    g = partner_grants.c
    query = sa.select(g.grant_id).where(
        g.resource_id == resource_id,
        g.client_id == client_id,
        g.revoked.is_(False),
        g.expires_us > now_us,
    )
    return await conn.scalar(query.limit(1)) is not None


# --- NATS keys -----------------------------------------------------------------------------------


async def set_nats_key(
    conn: AsyncConnection, *, client_id: str, public_key: str, at_us: int
) -> None:
    done = await conn.execute(
        nats_keys.update()
        .where(nats_keys.c.client_id == client_id)
        .values(public_key=public_key, updated_us=at_us)
    )
    if done.rowcount == 0:
        await conn.execute(
            nats_keys.insert().values(client_id=client_id, public_key=public_key, updated_us=at_us)
        )


async def nats_key(conn: Reader, client_id: str) -> str | None:
    found = await conn.scalar(
        sa.select(nats_keys.c.public_key).where(nats_keys.c.client_id == client_id)
    )
    return None if found is None else str(found)


async def nats_key_owner(conn: Reader, public_key: str) -> str | None:
    found = await conn.scalar(
        sa.select(nats_keys.c.client_id).where(nats_keys.c.public_key == public_key)
    )
    return None if found is None else str(found)


async def all_nats_keys(conn: Reader) -> list[tuple[str, str]]:
    query = sa.select(nats_keys.c.client_id, nats_keys.c.public_key).order_by(nats_keys.c.client_id)
    return [(str(r.client_id), str(r.public_key)) for r in (await conn.execute(query)).all()]


# --- webhooks and deliveries ---------------------------------------------------------------------


async def add_webhook(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(webhooks.insert().values(**values))


async def webhook(conn: Reader, webhook_id: str) -> Row | None:
    query = sa.select(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.deleted_us.is_(None))
    return (await conn.execute(query)).first()


async def live_webhooks(conn: Reader, *, client_id: str = "") -> list[Row]:
    query = sa.select(webhooks).where(webhooks.c.deleted_us.is_(None))
    if client_id:
        query = query.where(webhooks.c.client_id == client_id)
    return list((await conn.execute(query.order_by(webhooks.c.created_us))).all())


async def delete_webhook(conn: AsyncConnection, webhook_id: str, *, at_us: int) -> None:
    await conn.execute(
        webhooks.update().where(webhooks.c.id == webhook_id).values(deleted_us=at_us)
    )


async def record_attempt(
    conn: AsyncConnection,
    *,
    delivery_id: str,
    state: str,
    status: int,
    error: str,
    at_us: int,
    **first: Any,
) -> None:
    """Count one attempt of a delivery (created by its first attempt, with `first`)."""
    d = deliveries.c
    done = await conn.execute(
        deliveries.update()
        .where(d.id == delivery_id)
        .values(
            state=state,
            attempts=d.attempts + 1,
            last_status=status,
            last_error=error[:300],
            last_us=at_us,
        )
    )
    if done.rowcount == 0:
        await conn.execute(
            deliveries.insert().values(
                id=delivery_id,
                state=state,
                attempts=1,
                last_status=status,
                last_error=error[:300],
                first_us=at_us,
                last_us=at_us,
                **first,
            )
        )


async def list_deliveries(
    conn: Reader, *, client_id: str, state: str, before: int, limit: int
) -> tuple[list[Row], int | None]:
    query = sa.select(deliveries).where(deliveries.c.client_id == client_id)
    if state:
        query = query.where(deliveries.c.state == state)
    return await page_newest_first(
        conn, query, position=deliveries.c.seq, before=before, limit=limit
    )
