"""Identity tables: accounts and the sealed signing keys."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import Migration, Reader, create_tables, now_us
from services.identity.domain import Account

metadata = sa.MetaData()

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("department", sa.String(20), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(20), nullable=False),
    # The private key, SM4-GCM sealed under the master key with the kid as associated data.
    sa.Column("private_key_sealed", sa.LargeBinary, nullable=False),
    sa.Column("public_jwk", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("retired_us", sa.BigInteger),
)

MIGRATIONS = [Migration("identity-0001-accounts-and-keys", create_tables(accounts, signing_keys))]


def _account(row: sa.Row[tuple[object, ...]]) -> Account:
    m = row._mapping
    return Account(
        id=str(m["id"]),
        username=str(m["username"]),
        kind=str(m["kind"]),
        department=str(m["department"]),
        roles=tuple(m["roles"]),
    )


async def find_login(conn: Reader, username: str) -> tuple[Account, str] | None:
    row = (await conn.execute(sa.select(accounts).where(accounts.c.username == username))).first()
    return None if row is None else (_account(row), str(row.password_hash))


async def get_account(conn: Reader, account_id: str) -> Account | None:
    row = (await conn.execute(sa.select(accounts).where(accounts.c.id == account_id))).first()
    return None if row is None else _account(row)


async def username_exists(conn: Reader, username: str) -> bool:
    found = await conn.scalar(sa.select(accounts.c.id).where(accounts.c.username == username))
    return found is not None


async def add_account(conn: AsyncConnection, account: Account, *, password_hash: str) -> None:
    await conn.execute(
        accounts.insert().values(
            id=account.id,
            username=account.username,
            password_hash=password_hash,
            kind=account.kind,
            department=account.department,
            roles=list(account.roles),
            created_us=now_us(),
        )
    )


async def active_signing_key(conn: AsyncConnection) -> sa.Row[tuple[object, ...]] | None:
    query = (
        sa.select(signing_keys)
        .where(signing_keys.c.retired_us.is_(None))
        .order_by(signing_keys.c.created_us.desc())
        .limit(1)
    )
    return (await conn.execute(query)).first()


async def add_signing_key(
    conn: AsyncConnection, *, kid: str, algorithm: str, sealed: bytes, public_jwk: dict[str, str]
) -> None:
    await conn.execute(
        signing_keys.insert().values(
            kid=kid,
            algorithm=algorithm,
            private_key_sealed=sealed,
            public_jwk=public_jwk,
            created_us=now_us(),
        )
    )


async def public_jwks(conn: Reader) -> list[dict[str, str]]:
    """Every key not retired: tokens it signed may still be in flight."""
    rows = await conn.execute(
        sa.select(signing_keys.c.public_jwk).where(signing_keys.c.retired_us.is_(None))
    )
    return [dict(jwk) for jwk in rows.scalars()]
