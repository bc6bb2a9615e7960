"""Evidence of every interface query (who asked what of whom, when, and how much came back),
written in signed batches: a query never waits for a disk write or a signature of its own.

A batch commits every `FLUSH_SECONDS` or `FLUSH_SIZE` rows, whichever comes first, and at
shutdown; a process killed outright loses at most the last interval's rows (each answer already
carries its evidence id). Each batch is signed once with SM2 by the keys service (key
`exchange.evidence-signing`, over the SM3 of its records' hashes), as X-Road signs its message
logs in batches: one signature per batch, not per query. Rows older than the retention period
are deleted daily.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from runtime import grpcclient, logs
from runtime.errors import DomainError
from runtime.service import ServiceRuntime
from runtime.storage import Database, now_us
from runtime.writebehind import WriteBehind
from services.exchange import domain, store
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

log = logs.get(__name__)

FLUSH_SECONDS = 0.05
FLUSH_SIZE = 500
PURGE_EVERY_SECONDS = 86_400.0
DAY_US = 86_400_000_000
SIGNING_KEY = "exchange.evidence-signing"
SIGN_TIMEOUT = 5.0

# digest -> the keys service's signature ("sc:<key>:v<n>:...")
Signer = Callable[[bytes], Awaitable[str]]


def keys_signer(rt: ServiceRuntime) -> Signer:
    """Sign with the exchange's evidence key through the keys service, as the exchange itself."""
    keys = keys_pb2_grpc.KeysServiceStub(grpcclient.channel(rt.settings.grpc_target("keys")))

    async def sign(digest: bytes) -> str:
        if rt.credentials is None:
            raise RuntimeError("no service credentials")
        reply = await rt.credentials.call(
            keys.Sign, keys_pb2.SignRequest(name=SIGNING_KEY, message=digest), timeout=SIGN_TIMEOUT
        )
        return str(reply.signature)

    return sign


class EvidenceLog:
    def __init__(self, db: Database, *, retention_days: int, sign: Signer) -> None:
        self._db = db
        self._retention_days = retention_days
        self._sign = sign
        self._rows: WriteBehind[dict[str, Any]] = WriteBehind(
            self._write, name="evidence", seconds=FLUSH_SECONDS, size=FLUSH_SIZE
        )

    def add(self, row: dict[str, Any]) -> None:
        self._rows.add({**row, "record_hash": domain.evidence_hash(row)})

    async def flush(self) -> None:
        """Write what is pending, in one transaction."""
        await self._rows.flush()

    async def run(self) -> None:
        """Flush in the background until cancelled, then flush once more."""
        await self._rows.run()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        digest = domain.batch_digest([r["record_hash"] for r in rows])
        try:
            signature = await self._sign(digest)
        except (grpc.aio.AioRpcError, DomainError, RuntimeError) as exc:
            # Kept unsigned rather than lost; the batch says so (an empty signature).
            log.warning("evidence_unsigned", rows=len(rows), error=type(exc).__name__)
            signature = ""
        async with self._db.begin() as conn:
            await store.insert_evidence(
                conn, rows, batch_id=str(uuid.uuid4()), digest=digest.hex(), signature=signature
            )

    async def purge(self) -> None:
        """Delete the evidence older than the retention period, once a day."""
        while True:
            before = now_us() - self._retention_days * DAY_US
            async with self._db.begin() as conn:
                deleted = await store.delete_evidence_before(conn, before)
            if deleted:
                log.info("evidence_purged", rows=deleted, retention_days=self._retention_days)
            await asyncio.sleep(PURGE_EVERY_SECONDS)
