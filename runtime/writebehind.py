"""Rows written behind the request: a caller adds a row and answers at once; the rows are written
together, in one transaction, every `seconds` or as soon as `size` are waiting, and once more at
shutdown. A failed write keeps its rows for the next attempt.

For records a request must not wait for (the exchange's evidence, the licences' uses): a process
killed outright loses at most the last interval's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from runtime import logs

log = logs.get(__name__)

T = TypeVar("T")


class WriteBehind(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        name: str,
        seconds: float = 0.05,
        size: int = 500,
    ) -> None:
        self._write = write
        self._name = name
        self._seconds = seconds
        self._size = size
        self._pending: list[T] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def add(self, row: T) -> None:
        self._pending.append(row)
        if len(self._pending) >= self._size:
            self._wake.set()

    async def flush(self) -> None:
        """Write what is pending now (also what a reader is about to list)."""
        async with self._lock:
            rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                await self._write(rows)
            except BaseException:
                self._pending[:0] = rows  # kept for the next attempt
                raise

    async def run(self) -> None:
        """Flush in the background until cancelled, then flush once more."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._seconds)
                self._wake.clear()
                try:
                    await self.flush()
                except Exception as exc:
                    log.warning("write_behind_failed", rows=self._name, error=type(exc).__name__)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())
