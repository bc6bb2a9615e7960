"""Licences tables and queries.

- `counters`: serials and status-list indexes (one number each, never reused), and the status
  list's change sequence.
- `licences`: one row per licence version; its contents (fields and salted disclosures) sealed
  with SM4-GCM under the master key, bound to the licence id.
- `presentations`: each presentation made (its SM3 digest, not its text), and the first
  verifier that checked it online.
- `use_grants`, `uses`: holders' authorisations and every use of a licence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import (
    SEQUENCE,
    Migration,
    Reader,
    SQLiteReader,
    create_tables,
    now_us,
    page_newest_first,
)
from services.licences import identifier

metadata = sa.MetaData()

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
SERIAL = "serial"  # serials and status-list indexes come from the same never-reused count
STATUS_CHANGES = "status_changes"

HOLDING = ("valid", "suspended")  # the statuses in which a licence holds its place
HOLDING_SQL = "status IN ('valid', 'suspended')"

licences = sa.Table(
    "licences",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(80), nullable=False, unique=True),
    sa.Column("licence_type", sa.String(40), nullable=False),
    sa.Column("issuer", sa.String(20), nullable=False),
    sa.Column("holder", sa.String(60), nullable=False),  # "citizen:<account>" / "enterprise:<id>"
    sa.Column("version", sa.SmallInteger, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("status_reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("status_index", sa.BigInteger, nullable=False, unique=True),
    sa.Column("valid_from", sa.String(10), nullable=False),
    sa.Column("valid_until", sa.String(10)),  # None: long-term (长期)
    sa.Column("credential", sa.Text, nullable=False),
    sa.Column("contents", sa.LargeBinary, nullable=False),
    sa.Column("replaces", sa.String(80)),
    sa.Column("superseded_by", sa.String(80)),
    sa.Column("request_key", sa.String(140), unique=True),  # "<department>:<request id>"
    # What the law allows one of at a time ("id_card:citizen:<account>", "vehicle_licence:vin:
    # <keyed SM3 of the VIN>"), None for types without such a rule; at most one row per key holds.
    sa.Column("sole_key", sa.String(100)),
    sa.Column("issued_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    sa.Index("ix_licences_holder", "holder", "seq"),
    sa.Index("ix_licences_issuer", "issuer", "seq"),
    # the guarantee under concurrent issuances: one valid or suspended licence per sole key
    sa.Index(
        "ux_licences_sole_holding",
        "sole_key",
        unique=True,
        sqlite_where=sa.text(HOLDING_SQL),
        postgresql_where=sa.text(HOLDING_SQL),
    ),
)

presentations = sa.Table(
    "presentations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("licence_id", sa.String(80), nullable=False, index=True),
    sa.Column("digest", sa.String(64), nullable=False),  # SM3 of the whole text, hex
    sa.Column("claims", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("verifier", sa.String(140)),  # the first to verify it online
    sa.Column("verified_us", sa.BigInteger),
)

use_grants = sa.Table(
    "use_grants",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("licence_id", sa.String(80), nullable=False),
    sa.Column("licence_type", sa.String(40), nullable=False),
    sa.Column("holder", sa.String(60), nullable=False),
    sa.Column("grantee", sa.String(120), nullable=False),
    sa.Column("purpose", sa.String(500), nullable=False),
    sa.Column("claims", sa.JSON, nullable=False),
    sa.Column("not_before_us", sa.BigInteger, nullable=False),
    sa.Column("not_after_us", sa.BigInteger, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("withdrawn_us", sa.BigInteger),
    sa.Index("ix_use_grants_holder", "holder", "seq"),
    sa.Index("ix_use_grants_grantee", "grantee", "seq"),
)

uses = sa.Table(
    "uses",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("licence_id", sa.String(80), nullable=False),
    sa.Column("licence_type", sa.String(40), nullable=False),
    sa.Column("holder", sa.String(60), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("user", sa.String(120), nullable=False),
    sa.Column("purpose", sa.String(500), nullable=False, server_default=""),
    sa.Column("grant_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("claims", sa.JSON, nullable=False),
    sa.Column("used_us", sa.BigInteger, nullable=False),
    sa.Index("ix_uses_holder", "holder", "seq"),
)

FORMER_LAYOUT_REASON = (
    "issued with the platform's former identifier layout; re-issued with a GB/T 36904 identifier"
)


def _national_identifiers(conn: sa.Connection) -> None:
    """Licences of the former layout (`JMSFZ`-style type codes, 2-digit versions) are revoked.

    Their identifiers cannot be rewritten: each credential is signed over its identifier, and
    only the keys service signs. They are revoked instead (so the status list says so to offline
    verifiers) and their request ids are released, so that an issuer's system that issues by
    request id (the embedded demo does) issues them again in the national form.
    """
    former = [
        r.id for r in conn.execute(sa.select(licences.c.id)).all() if not _national_form(str(r.id))
    ]
    at_us = now_us()
    changed = 0
    for start in range(0, len(former), 500):
        chunk = former[start : start + 500]
        done = conn.execute(
            licences.update()
            .where(licences.c.id.in_(chunk), licences.c.status.in_(("valid", "suspended")))
            .values(status="revoked", status_reason=FORMER_LAYOUT_REASON, updated_us=at_us)
        )
        changed += done.rowcount
        conn.execute(licences.update().where(licences.c.id.in_(chunk)).values(request_key=None))
    if changed:
        _count_status_change(conn)


def _national_form(licence_id: str) -> bool:
    try:
        identifier.parse(licence_id)
    except identifier.IdentifierPartError:
        return False
    return True


ONE_PER_HOLDER_REASON = "one valid licence of its type per holder: a newer licence holds"


def _one_licence_per_holder(conn: sa.Connection) -> None:
    """The sole key, filled for the types keyed by their holder, duplicates resolved, indexed.

    Licences the former rule let coexist (a second and third ID card of one person) are
    superseded by the newest. Vehicle licences are keyed by their VIN, which is sealed in their
    contents: those issued before this step get their key when they are next renewed.
    """
    present = {c["name"] for c in sa.inspect(conn).get_columns("licences")}
    if "sole_key" not in present:
        ddl = sa.schema.CreateColumn(licences.c.sole_key).compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE licences ADD COLUMN {ddl}"))
    rows = conn.execute(
        sa.select(
            licences.c.seq,
            licences.c.id,
            licences.c.licence_type,
            licences.c.holder,
            licences.c.status,
        )
        .where(licences.c.licence_type.in_(BY_HOLDER))
        .order_by(licences.c.seq.desc())
    ).all()
    newest: dict[str, str] = {}
    at_us = now_us()
    changed = 0
    for row in rows:
        key = f"{row.licence_type}:{row.holder}"
        values: dict[str, Any] = {"sole_key": key}
        if row.status in HOLDING:
            if key in newest:
                values |= {
                    "status": "superseded",
                    "status_reason": ONE_PER_HOLDER_REASON,
                    "superseded_by": newest[key],
                    "updated_us": at_us,
                }
                changed += 1
            else:
                newest[key] = str(row.id)
        conn.execute(licences.update().where(licences.c.seq == row.seq).values(**values))
    if changed:
        _count_status_change(conn)
    for index in licences.indexes:
        index.create(conn, checkfirst=True)


def _count_status_change(conn: sa.Connection) -> None:
    """The status list is signed again when its change count moves."""
    bumped = conn.execute(
        counters.update()
        .where(counters.c.name == STATUS_CHANGES)
        .values(value=counters.c.value + 1)
    )
    if bumped.rowcount == 0:
        conn.execute(counters.insert().values(name=STATUS_CHANGES, value=1))


# The types keyed by their holder (the store needs no contents to key them).
BY_HOLDER = ("id_card", "driving_licence", "business_licence")


MIGRATIONS = [
    Migration(
        "licences-0001-licences-presentations-grants-uses",
        create_tables(counters, licences, presentations, use_grants, uses),
    ),
    Migration("licences-0002-national-identifiers", _national_identifiers),
    Migration("licences-0003-one-licence-per-holder", _one_licence_per_holder),
]

Row = sa.Row[Any]


async def next_number(conn: AsyncConnection, name: str) -> int:
    """The next value of a counter, in the caller's transaction (which holds it until commit)."""
    bumped = await conn.execute(
        counters.update()
        .where(counters.c.name == name)
        .values(value=counters.c.value + 1)
        .returning(counters.c.value)
    )
    value = bumped.scalar()
    if value is not None:
        return int(value)
    await conn.execute(counters.insert().values(name=name, value=1))
    return 1


async def counter(conn: Reader, name: str) -> int:
    value = await conn.scalar(sa.select(counters.c.value).where(counters.c.name == name))
    return int(value or 0)


# --- licences ----------------------------------------------------------------------------------


async def licence(conn: Reader, licence_id: str) -> Row | None:
    return (await conn.execute(sa.select(licences).where(licences.c.id == licence_id))).first()


async def licence_by_request(conn: Reader, request_key: str) -> Row | None:
    query = sa.select(licences).where(licences.c.request_key == request_key)
    return (await conn.execute(query)).first()


async def add_licence(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(licences.insert().values(**values))


async def holding(conn: Reader, sole_key: str) -> Row | None:
    """The licence that holds this sole key (valid or suspended), if any."""
    query = sa.select(licences).where(
        licences.c.sole_key == sole_key, licences.c.status.in_(HOLDING)
    )
    return (await conn.execute(query)).first()


async def set_status(
    conn: AsyncConnection,
    licence_id: str,
    *,
    expected: str,
    status: str,
    reason: str,
    at_us: int,
    superseded_by: str | None = None,
) -> bool:
    """Move a licence from `expected` to `status`; False when another change came first."""
    values: dict[str, Any] = {"status": status, "status_reason": reason, "updated_us": at_us}
    if superseded_by is not None:
        values["superseded_by"] = superseded_by
    done = await conn.execute(
        licences.update()
        .where(licences.c.id == licence_id, licences.c.status == expected)
        .values(**values)
    )
    if done.rowcount != 1:
        return False
    await next_number(conn, STATUS_CHANGES)
    return True


async def list_licences(
    conn: Reader,
    *,
    holders: tuple[str, ...] = (),
    issuer: str = "",
    licence_type: str = "",
    status: str = "",
    before: int,
    limit: int,
) -> tuple[list[Row], int | None]:
    query = sa.select(licences)
    if holders:
        query = query.where(licences.c.holder.in_(holders))
    if issuer:
        query = query.where(licences.c.issuer == issuer)
    if licence_type:
        query = query.where(licences.c.licence_type == licence_type)
    if status:
        query = query.where(licences.c.status == status)
    return await page_newest_first(conn, query, position=licences.c.seq, before=before, limit=limit)


async def statuses(conn: Reader) -> dict[int, str]:
    """Every licence that is not simply valid, by status-list index."""
    query = sa.select(licences.c.status_index, licences.c.status).where(
        licences.c.status != "valid"
    )
    return {int(r.status_index): str(r.status) for r in (await conn.execute(query)).all()}


# --- presentations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresentedLicence:
    """What online verification needs, read in one query."""

    digest: str
    verifier: str | None
    expires_us: int
    holder: str
    licence_type: str
    status: str
    valid_from: str
    valid_until: str | None
    credential: str
    status_reason: str


async def add_presentation(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(presentations.insert().values(**values))


# Built once: online verification reads this for every presentation it is shown.
_PRESENTED = (
    sa.select(
        presentations.c.digest,
        presentations.c.verifier,
        presentations.c.expires_us,
        licences.c.holder,
        licences.c.licence_type,
        licences.c.status,
        licences.c.valid_from,
        licences.c.valid_until,
        licences.c.credential,
        licences.c.status_reason,
    )
    .select_from(presentations.join(licences, licences.c.id == presentations.c.licence_id))
    .where(presentations.c.id == sa.bindparam("id"))
)


async def presented(conn: Reader, presentation_id: str) -> PresentedLicence | None:
    if isinstance(conn, SQLiteReader):
        found = await conn.first_row(_PRESENTED, {"id": presentation_id})
        return None if found is None else PresentedLicence(*found)
    row = (await conn.execute(_PRESENTED, {"id": presentation_id})).first()
    return None if row is None else PresentedLicence(**row._mapping)


async def claim_first_verification(
    conn: AsyncConnection, presentation_id: str, *, verifier: str, at_us: int
) -> bool:
    """Name the first verifier of a presentation; False when another verifier came first."""
    return await claim_first_verifications(conn, [(presentation_id, verifier, at_us)]) == 1


# Built once: the write-behind of verifications runs them for a whole batch at a time.
_CLAIM = (
    presentations.update()
    .where(presentations.c.id == sa.bindparam("pid"), presentations.c.verifier.is_(None))
    .values(verifier=sa.bindparam("who"), verified_us=sa.bindparam("at"))
)


async def claim_first_verifications(
    conn: AsyncConnection, claims: list[tuple[str, str, int]]
) -> int:
    """Name the first verifier of each (presentation, verifier, time); how many were first."""
    done = await conn.execute(
        _CLAIM, [{"pid": pid, "who": who, "at": at} for pid, who, at in claims]
    )
    return int(done.rowcount)


async def purge_presentations(conn: AsyncConnection, *, expired_before_us: int) -> int:
    done = await conn.execute(
        presentations.delete().where(presentations.c.expires_us < expired_before_us)
    )
    return int(done.rowcount or 0)


# --- use grants and uses -----------------------------------------------------------------------


async def add_use_grant(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(use_grants.insert().values(**values))


async def use_grant(conn: Reader, grant_id: str) -> Row | None:
    return (await conn.execute(sa.select(use_grants).where(use_grants.c.id == grant_id))).first()


async def withdraw_use_grant(conn: AsyncConnection, grant_id: str, *, at_us: int) -> bool:
    done = await conn.execute(
        use_grants.update()
        .where(use_grants.c.id == grant_id, use_grants.c.withdrawn_us.is_(None))
        .values(withdrawn_us=at_us)
    )
    return done.rowcount == 1


async def list_use_grants(
    conn: Reader, *, holders: tuple[str, ...] = (), grantee: str = "", before: int, limit: int
) -> tuple[list[Row], int | None]:
    query = sa.select(use_grants)
    query = (
        query.where(use_grants.c.holder.in_(holders))
        if holders
        else query.where(use_grants.c.grantee == grantee)
    )
    return await page_newest_first(
        conn, query, position=use_grants.c.seq, before=before, limit=limit
    )


async def add_use(conn: AsyncConnection, **values: Any) -> None:
    await add_uses(conn, [values])


async def add_uses(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await conn.execute(uses.insert(), rows)


async def list_uses(
    conn: Reader, *, holders: tuple[str, ...], licence_id: str, before: int, limit: int
) -> tuple[list[Row], int | None]:
    query = sa.select(uses).where(uses.c.holder.in_(holders))
    if licence_id:
        query = query.where(uses.c.licence_id == licence_id)
    return await page_newest_first(conn, query, position=uses.c.seq, before=before, limit=limit)
