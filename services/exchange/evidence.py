"""Evidence of every interface query (who asked what of whom, when, and how much came back),
written in batches: a query never waits for a disk write of its own.

A batch commits every `FLUSH_SECONDS` or `FLUSH_SIZE` rows, whichever comes first, and at
shutdown; a process killed outright loses at most the last interval's rows (each answer already
carries its evidence id). Rows older than the retention period are deleted daily.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from runtime import logs
from runtime.storage import Database, now_us
from services.exchange import store

log = logs.get(__name__)

FLUSH_SECONDS = 0.05
FLUSH_SIZE = 500
PURGE_EVERY_SECONDS = 86_400.0
DAY_US = 86_400_000_000


class EvidenceLog:
    def __init__(self, db: Database, *, retention_days: int) -> None:
        self._db = db
        self._retention_days = retention_days
        self._pending: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def add(self, row: dict[str, Any]) -> None:
        self._pending.append(row)
        if len(self._pending) >= FLUSH_SIZE:
            self._wake.set()

    async def flush(self) -> None:
        """Write what is pending, in one transaction."""
        async with self._lock:
            rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                async with self._db.begin() as conn:
                    await store.insert_evidence(conn, rows)
            except Exception:
                self._pending[:0] = rows  # kept for the next attempt
                raise

    async def run(self) -> None:
        """Flush in the background until cancelled, then flush once more."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=FLUSH_SECONDS)
                self._wake.clear()
                try:
                    await self.flush()
                except Exception as exc:
                    log.warning("evidence_flush_failed", error=type(exc).__name__)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())

    async def purge(self) -> None:
        """Delete the evidence older than the retention period, once a day."""
        while True:
            before = now_us() - self._retention_days * DAY_US
            async with self._db.begin() as conn:
                deleted = await store.delete_evidence_before(conn, before)
            if deleted:
                log.info("evidence_purged", rows=deleted, retention_days=self._retention_days)
            await asyncio.sleep(PURGE_EVERY_SECONDS)
