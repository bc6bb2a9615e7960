"""The audit chain: every service's audit records, appended in order, each holding the SM3 hash of
the one before, with checkpoints signed by an SM2 key of this service.

A record's hash is SM3(previous hash || sequence || event id || the record's bytes as received),
so editing, removing or reordering a record breaks every hash after it; a signed checkpoint
fixes the chain's head at a moment, so that truncating the end or rewriting the whole chain
after it is caught too. `verify` walks the chain and names the first record that does not hold.

A record is chained only from the service it names: each service's records arrive on its own
subject, which only its NATS identity may publish (runtime/natsauth.py), with its own
`ce-source` (checked by the consumer); a record naming another service is refused, and the
chain's `service` column is the service that published it.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import algorithms, audit, config, logs
from runtime.bus.consumer import EventRefused, Handler, ReceivedEvent, Subscription
from runtime.storage import Database, Migration, Reader, create_tables, now_us, page
from services.keys import domain
from smartcity.keys.v1 import events_pb2

log = logs.get(__name__)

GENESIS = "0" * 64
# The SM2 key that signs checkpoints; created by the service itself, used by nobody else.
CHECKPOINT_KEY = "audit.checkpoints"

metadata = sa.MetaData()
chain = sa.Table(
    "audit_chain",
    metadata,
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("service", sa.String(20), nullable=False),
    # The record exactly as it arrived: what the hash covers.
    sa.Column("record", sa.LargeBinary, nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False, index=True),
    sa.Column("resource_id", sa.String(100), nullable=False, index=True),
    sa.Column("previous_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("appended_us", sa.BigInteger, nullable=False),
)
checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # "sc:audit.checkpoints:v<n>:<signature>" over "<sequence>:<hash>".
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

MIGRATIONS = [Migration("keys-0003-audit-chain", create_tables(chain, checkpoints))]

# One appender at a time: in this process by the lock, across replicas by PostgreSQL's lock.
_append_lock = asyncio.Lock()
_PG_LOCK = zlib.crc32(b"smartcity-audit-chain")


def link_hash(previous_hash: str, sequence: int, event_id: str, record: bytes) -> str:
    data = bytes.fromhex(previous_hash) + sequence.to_bytes(8, "big") + event_id.encode()
    return algorithms.sm3(data + b"\0" + record).hex()


def checkpoint_message(sequence: int, hash_hex: str) -> bytes:
    return f"smartcity-audit-checkpoint:{sequence}:{hash_hex}".encode()


async def append(
    conn: AsyncConnection,
    event: ReceivedEvent[events_pb2.AuditRecord],
    raw: bytes,
    *,
    publisher: str,
) -> None:
    """Add one record, published by `publisher`, at the end of the chain, in the consumer's
    transaction."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    last = (
        await conn.execute(
            sa.select(chain.c.sequence, chain.c.hash).order_by(chain.c.sequence.desc()).limit(1)
        )
    ).first()
    sequence = (last.sequence if last else 0) + 1
    previous = last.hash if last else GENESIS
    record = event.payload
    await conn.execute(
        chain.insert().values(
            sequence=sequence,
            event_id=event.id,
            service=publisher,
            record=raw,
            actor_id=record.actor_id[:64],
            resource_id=record.resource_id[:100],
            previous_hash=previous,
            hash=link_hash(previous, sequence, event.id, raw),
            appended_us=now_us(),
        )
    )


def subscriptions() -> list[Subscription[events_pb2.AuditRecord]]:
    """One durable consumer per service's audit records."""

    def handler(publisher: str) -> Handler[events_pb2.AuditRecord]:
        async def handle(
            conn: AsyncConnection, event: ReceivedEvent[events_pb2.AuditRecord]
        ) -> None:
            record = event.payload
            if record.service != publisher:
                # the consumer checked that `publisher` sent it: it may speak for itself only
                raise EventRefused(f"an audit record naming another service, from {publisher}")
            async with _append_lock:
                await append(conn, event, record.SerializeToString(), publisher=publisher)

        return handle

    return [
        Subscription(f"keys-audit-{service}", audit.event_type(service), handler(service))
        for service in config.SERVICES
    ]


@dataclass(frozen=True)
class Verdict:
    intact: bool
    records: int
    checkpoints: int
    first_broken: int = 0
    problem: str = ""


async def _rows(conn: Reader, table: sa.Table, batch: int = 1000) -> AsyncIterator[Any]:
    """Every row of a table in sequence order, a page at a time."""
    after: int | None = 0
    while after is not None:
        rows, after = await page(
            conn, sa.select(table), position=table.c.sequence, after=after, limit=batch
        )
        for row in rows:
            yield row


def _broken(records: int, marks: int, sequence: int, problem: str) -> Verdict:
    return Verdict(False, records, marks, sequence, problem)


async def verify(conn: Reader, *, signature_valid: Callable[[bytes, str], bool]) -> Verdict:
    """Walk the whole chain; `signature_valid(message, signature)` checks a checkpoint."""
    marks = {row.sequence: row async for row in _rows(conn, checkpoints)}
    previous, expected, checked = GENESIS, 1, 0
    async for row in _rows(conn, chain):
        if row.sequence != expected:
            return _broken(checked, 0, expected, "the record is missing")
        if row.previous_hash != previous:
            return _broken(checked, 0, row.sequence, "it does not follow the record before it")
        if link_hash(previous, row.sequence, row.event_id, row.record) != row.hash:
            return _broken(checked, 0, row.sequence, "its content does not match its hash")
        parsed = events_pb2.AuditRecord()
        parsed.ParseFromString(row.record)
        indexed = (parsed.actor_id[:64], parsed.resource_id[:100], parsed.service)
        if indexed != (row.actor_id, row.resource_id, row.service):
            return _broken(checked, 0, row.sequence, "its index columns were changed")
        mark = marks.get(row.sequence)
        if mark is not None and (
            mark.hash != row.hash
            or not signature_valid(checkpoint_message(mark.sequence, mark.hash), mark.signature)
        ):
            return _broken(checked, 0, row.sequence, "its signed checkpoint does not match")
        previous, expected, checked = row.hash, expected + 1, checked + 1
    beyond = [s for s in marks if s >= expected]
    if beyond:
        return _broken(checked, len(marks), expected, "records after it were removed")
    return Verdict(True, checked, len(marks))


def checkpoint_verifier(public_keys: dict[int, bytes]) -> Callable[[bytes, str], bool]:
    """Checks checkpoint signatures with the checkpoint key's public keys, by version."""

    def valid(message: bytes, signature: str) -> bool:
        try:
            version, blob = domain.unwrap(signature, name=CHECKPOINT_KEY, field_name="signature")
        except Exception:
            return False
        pem = public_keys.get(version)
        return pem is not None and algorithms.verify("sm2", pem, message, signature=blob)

    return valid


async def latest(conn: Reader) -> tuple[int, str] | None:
    row = (
        await conn.execute(
            sa.select(chain.c.sequence, chain.c.hash).order_by(chain.c.sequence.desc()).limit(1)
        )
    ).first()
    return None if row is None else (int(row.sequence), str(row.hash))


async def last_checkpoint(conn: Reader) -> int:
    return int(await conn.scalar(sa.select(sa.func.max(checkpoints.c.sequence))) or 0)


async def add_checkpoint(db: Database, *, sequence: int, hash_hex: str, signature: str) -> None:
    async with db.begin() as conn:
        await conn.execute(
            checkpoints.insert().values(
                sequence=sequence, hash=hash_hex, signature=signature, created_us=now_us()
            )
        )


async def sign_checkpoint(db: Database, keyring: Any) -> int | None:
    """Sign the chain's head if it moved since the last checkpoint; return its sequence."""
    async with db.read() as conn:
        head = await latest(conn)
        done = await last_checkpoint(conn)
    if head is None or head[0] <= done:
        return None
    key = await keyring.usable(CHECKPOINT_KEY)
    material = await keyring.material(key, key.latest_version)
    blob = algorithms.sign(key.algorithm, material, checkpoint_message(*head))
    signature = domain.wrap(key.name, key.latest_version, blob)
    await add_checkpoint(db, sequence=head[0], hash_hex=head[1], signature=signature)
    log.info("audit_checkpoint_signed", sequence=head[0])
    return head[0]


async def verify_chain(db: Database) -> Verdict:
    """The whole chain checked, its checkpoints with the checkpoint key's public keys."""
    from services.keys import store

    async with db.read() as conn:
        public = await store.public_keys(conn, CHECKPOINT_KEY)
        return await verify(conn, signature_valid=checkpoint_verifier(public))
