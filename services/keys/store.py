"""Keys tables: each key's configuration and policy, and its versions' material, SM4-GCM sealed
under the master key and bound to the key name and version."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.algorithms import PURPOSES, Purpose
from runtime.storage import Migration, Reader, add_missing_columns, create_tables, now_us, page
from services.keys.domain import Grant, KeyInfo

metadata = sa.MetaData()

keys = sa.Table(
    "keys",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("purpose", sa.String(10), nullable=False),
    sa.Column("algorithm", sa.String(20), nullable=False),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("min_decryption_version", sa.Integer, nullable=False),
    sa.Column("rotation_period_days", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("owner_department", sa.String(20), nullable=False),
    sa.Column("grants", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("delete_after_us", sa.BigInteger),
    sa.Column("created_by", sa.String(36), nullable=False),
    # The policy's services, through which alone the key is used (null: none named).
    sa.Column("services", sa.JSON),
)

key_versions = sa.Table(
    "key_versions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    # Emptied when the key is destroyed.
    sa.Column("material_sealed", sa.LargeBinary, nullable=False),
    sa.Column("public_key_pem", sa.Text),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

# Stored purposes back to their typed names.
PURPOSE_NAMES: dict[str, Purpose] = {p: p for p in PURPOSES}


def _grant_json(grant: Grant) -> dict[str, list[Any]]:
    return {
        "services": sorted(grant.services),
        "departments": sorted(grant.departments),
        "roles": sorted(grant.roles),
        "operations": sorted(grant.operations),
    }


def _grant(data: dict[str, list[Any]]) -> Grant:
    return Grant(
        services=frozenset(data.get("services", ())),
        departments=frozenset(data.get("departments", ())),
        roles=frozenset(data.get("roles", ())),
        operations=frozenset(int(o) for o in data.get("operations", ())),
    )


def _key(row: sa.Row[Any]) -> KeyInfo:
    m = row._mapping
    return KeyInfo(
        name=str(m["name"]),
        purpose=PURPOSE_NAMES[str(m["purpose"])],
        algorithm=str(m["algorithm"]),
        latest_version=int(m["latest_version"]),
        min_decryption_version=int(m["min_decryption_version"]),
        rotation_period_days=int(m["rotation_period_days"]),
        state=str(m["state"]),
        owner_department=str(m["owner_department"]),
        grants=tuple(_grant(g) for g in m["grants"]),
        created_us=int(m["created_us"]),
        delete_after_us=m["delete_after_us"],
        services=frozenset(m["services"] or ()),
    )


async def get_key(conn: Reader, name: str) -> KeyInfo | None:
    row = (await conn.execute(sa.select(keys).where(keys.c.name == name))).first()
    return None if row is None else _key(row)


async def name_taken(conn: Reader, name: str) -> bool:
    return await conn.scalar(sa.select(keys.c.seq).where(keys.c.name == name)) is not None


async def add_key(conn: AsyncConnection, key: KeyInfo, *, created_by: str) -> None:
    await conn.execute(
        keys.insert().values(
            name=key.name,
            purpose=key.purpose,
            algorithm=key.algorithm,
            latest_version=key.latest_version,
            min_decryption_version=key.min_decryption_version,
            rotation_period_days=key.rotation_period_days,
            state=key.state,
            owner_department=key.owner_department,
            grants=[_grant_json(g) for g in key.grants],
            services=sorted(key.services),
            created_us=now_us(),
            created_by=created_by,
        )
    )


async def update_key(conn: AsyncConnection, name: str, **values: Any) -> None:
    if "grants" in values:
        values["grants"] = [_grant_json(g) for g in values["grants"]]
    if "services" in values:
        values["services"] = sorted(values["services"])
    await conn.execute(keys.update().where(keys.c.name == name).values(**values))


async def list_keys(
    conn: Reader, *, after_seq: int, limit: int
) -> tuple[list[KeyInfo], int | None]:
    rows, after = await page(
        conn, sa.select(keys), position=keys.c.seq, after=after_seq, limit=limit
    )
    return [_key(r) for r in rows], after


async def keys_due(conn: Reader, *, now: int) -> list[KeyInfo]:
    """Enabled keys with a rotation period (the caller checks their age), and keys whose pending
    deletion is due."""
    query = sa.select(keys).where(
        sa.or_(
            sa.and_(keys.c.state == "enabled", keys.c.rotation_period_days > 0),
            sa.and_(keys.c.state == "pending_deletion", keys.c.delete_after_us <= now),
        )
    )
    return [_key(r) for r in (await conn.execute(query)).all()]


async def add_version(
    conn: AsyncConnection, *, name: str, version: int, sealed: bytes, public_key_pem: str | None
) -> None:
    await conn.execute(
        key_versions.insert().values(
            name=name,
            version=version,
            material_sealed=sealed,
            public_key_pem=public_key_pem,
            created_us=now_us(),
        )
    )


async def versions(conn: Reader, name: str) -> list[tuple[int, int]]:
    """(version, created_us) of each version, oldest first."""
    rows = await conn.execute(
        sa.select(key_versions.c.version, key_versions.c.created_us)
        .where(key_versions.c.name == name)
        .order_by(key_versions.c.version)
    )
    return [(int(r.version), int(r.created_us)) for r in rows.all()]


async def version_row(conn: Reader, name: str, version: int) -> sa.Row[Any] | None:
    query = sa.select(key_versions).where(
        key_versions.c.name == name, key_versions.c.version == version
    )
    return (await conn.execute(query)).first()


async def every_key(conn: Reader) -> tuple[list[KeyInfo], dict[str, list[tuple[int, int]]]]:
    """Every key, and the (version, created_us) of each one's versions."""
    found: list[KeyInfo] = []
    after: int | None = 0
    while after is not None:
        page, after = await list_keys(conn, after_seq=after, limit=100)
        found += page
    return found, {key.name: await versions(conn, key.name) for key in found}


async def public_keys(conn: Reader, name: str) -> dict[int, bytes]:
    """The public key of each version of a signing key."""
    rows = await conn.execute(
        sa.select(key_versions.c.version, key_versions.c.public_key_pem).where(
            key_versions.c.name == name, key_versions.c.public_key_pem.is_not(None)
        )
    )
    return {int(r.version): str(r.public_key_pem).encode() for r in rows.all()}


async def destroy_material(conn: AsyncConnection, name: str) -> None:
    await conn.execute(
        key_versions.update().where(key_versions.c.name == name).values(material_sealed=b"")
    )


# --- interface authorisation codes ---------------------------------------------------------------

authorisation_codes = sa.Table(
    "authorisation_codes",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(24), nullable=False, unique=True),
    sa.Column("consumer", sa.String(120), nullable=False, index=True),
    sa.Column("interface_services", sa.JSON, nullable=False),
    sa.Column("rate_limit_per_minute", sa.Integer, nullable=False),
    sa.Column("expire_us", sa.BigInteger, nullable=False),
    # HMAC-SM3 of the code under a key derived from the master key: the code is never stored.
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("uses", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_use_us", sa.BigInteger),
    sa.Column("rotations", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
)

MIGRATIONS = [
    Migration("keys-0001-keys-and-versions", create_tables(keys, key_versions)),
    Migration("keys-0002-authorisation-codes", create_tables(authorisation_codes)),
    Migration("keys-0005-policy-services", add_missing_columns(keys)),
]


async def add_code(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(authorisation_codes.insert().values(created_us=now_us(), **values))


async def code_row(conn: Reader, code_id: str) -> sa.Row[Any] | None:
    query = sa.select(authorisation_codes).where(authorisation_codes.c.id == code_id)
    return (await conn.execute(query)).first()


async def update_code(conn: AsyncConnection, code_id: str, **values: Any) -> None:
    await conn.execute(
        authorisation_codes.update().where(authorisation_codes.c.id == code_id).values(**values)
    )


async def add_uses(conn: AsyncConnection, uses: dict[str, int]) -> None:
    at = now_us()
    for code_id, count in uses.items():
        await conn.execute(
            authorisation_codes.update()
            .where(authorisation_codes.c.id == code_id)
            .values(uses=authorisation_codes.c.uses + count, last_use_us=at)
        )


async def list_codes(
    conn: Reader, *, after_seq: int, limit: int, consumer: str
) -> tuple[list[sa.Row[Any]], int | None]:
    query = sa.select(authorisation_codes)
    if consumer:
        query = query.where(authorisation_codes.c.consumer == consumer)
    return await page(conn, query, position=authorisation_codes.c.seq, after=after_seq, limit=limit)
