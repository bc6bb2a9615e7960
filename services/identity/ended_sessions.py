"""What identity tells the platform's verifiers about ended sessions (`runtime.revocation`).

A verifier that opens its feed (`WatchEndedSessions`) first gets the live list, every session
whose access tokens may still be unexpired; then, twice a second, a heartbeat that repeats the
sessions ended in the last seconds. Both are read from the database, so the ends any replica
committed reach every verifier, NATS or no NATS, and the heartbeat's arrival tells a verifier
that it still hears identity. One reader per process reads the database once per heartbeat for
all the verifiers watching it. A verifier whose feed is silent asks instead (`ListEndedSessions`).
Both answer anyone, as the JWKS does: they hold only random session ids and times (no personal
data, nothing a token's holder could not learn), on identity's internal gRPC port, which the
gateway never exposes. Every watch ends after `WATCH_LIFETIME_SECONDS`, and its verifier opens
it again.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

from runtime import logs, pagination
from runtime.errors import FieldViolation, InvalidArgument
from runtime.revocation import (
    HEARTBEAT_SECONDS,
    HEARTBEAT_WINDOW_SECONDS,
    Beat,
    EndedSince,
    Feed,
)
from runtime.storage import Database, now_us, timestamp
from services.identity import domain, store
from smartcity.identity.v1 import identity_pb2 as pb

log = logs.get(__name__)

_US = 1_000_000
# Every session whose access tokens may still be unexpired: ended within a token's lifetime, the
# verifiers' leeway (30 s) and a margin.
LIVE_LIST_US = (domain.ACCESS_TOKEN_TTL_SECONDS + 60) * _US
WINDOW_US = int(HEARTBEAT_WINDOW_SECONDS * _US)
# A watch ends after this long (its verifier opens it again at once): no stream is held forever.
WATCH_LIFETIME_SECONDS = 300.0
# The first list of a watch, in messages of at most this many sessions.
LIST_CHUNK = 10_000
DEFAULT_PAGE_SIZE = 1_000
MAX_PAGE_SIZE = 10_000


class Announcer:
    """The live list and the heartbeat of one identity process."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._beat: Beat | None = None
        self._beats = 0
        self._closed = False
        self._ticked = asyncio.Condition()

    async def run(self, stopping: asyncio.Event) -> None:
        """Read the sessions ended lately twice a second and hand them to every watcher. A
        read that fails sends nothing: the watchers fall silent and ask, or refuse, rather than
        trust. Once `stopping` is set, every watch ends (its verifier opens it again elsewhere)."""
        while True:
            if stopping.is_set():
                async with self._ticked:
                    self._closed = True
                    self._ticked.notify_all()
                return
            try:
                as_of = now_us()
                since = as_of - WINDOW_US
                rows = await self._read(since)
            except Exception as exc:
                log.warning("ended_sessions_not_read", error=type(exc).__name__)
            else:
                async with self._ticked:
                    self._beat = Beat([sid for _, sid in rows], since, as_of)
                    self._beats += 1
                    self._ticked.notify_all()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def watch(self, *, lifetime: float = WATCH_LIFETIME_SECONDS) -> AsyncIterator[Beat]:
        """One verifier's feed: the live list (in chunks), then every heartbeat for `lifetime`
        seconds from now (then it ends, and the verifier opens it again)."""
        if self._closed:
            return
        until = time.monotonic() + lifetime
        async with self._ticked:
            seen = self._beats  # before the list is read: no heartbeat in between is missed
        as_of = now_us()
        since = as_of - LIVE_LIST_US
        after: tuple[int, str] | None = None
        while True:
            rows = await self._read(since, after=after, limit=LIST_CHUNK)
            last = len(rows) < LIST_CHUNK
            yield Beat([sid for _, sid in rows], since, as_of if last else None)
            if last:
                break
            after = rows[-1]
        while (remaining := until - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(remaining), self._ticked:
                    await self._ticked.wait_for(functools.partial(self._beaten, seen))
                    seen, beat = self._beats, self._beat
            except TimeoutError:
                return
            if self._closed:
                return
            if beat is not None:
                yield beat

    def _beaten(self, seen: int) -> bool:
        return self._beats > seen or self._closed

    async def list_ended(
        self, request: pb.ListEndedSessionsRequest
    ) -> pb.ListEndedSessionsResponse:
        if request.page_size < 0:
            raise InvalidArgument([FieldViolation("page_size", "cannot be negative")])
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = pagination.decode_key_cursor(request.page_token)
        as_of = now_us()
        since = (
            request.ended_after.ToMicroseconds()
            if request.HasField("ended_after")
            else as_of - LIVE_LIST_US
        )
        rows = await self._read(since, after=after, limit=size + 1)
        more = len(rows) > size
        return pb.ListEndedSessionsResponse(
            session_ids=[sid for _, sid in rows[:size]],
            next_page_token=pagination.encode_key_cursor(rows[size - 1] if more else None),
            as_of=timestamp(as_of),
            ended_after=timestamp(since),
        )

    def feed(self) -> Feed:
        """Identity's own verifier hears the same feed, in the process."""

        async def ask(ended_after_us: int | None) -> EndedSince:
            as_of = now_us()
            since = as_of - LIVE_LIST_US if ended_after_us is None else ended_after_us
            rows = await self._read(since)
            return EndedSince([sid for _, sid in rows], as_of)

        return Feed(watch=self.watch, ask=ask)

    async def _read(
        self, since: int, *, after: tuple[int, str] | None = None, limit: int | None = None
    ) -> list[tuple[int, str]]:
        async with self._db.read() as conn:
            return await store.sessions_ended_since(
                conn, ended_after_us=since, after=after, limit=limit
            )


@functools.cache
def announcer(db: Database) -> Announcer:
    """One announcer per database (process): the servicer's and the verifier's."""
    return Announcer(db)


def response(beat: Beat) -> pb.WatchEndedSessionsResponse:
    message = pb.WatchEndedSessionsResponse(
        session_ids=beat.session_ids, ended_after=timestamp(beat.ended_after_us)
    )
    if beat.as_of_us is not None:
        message.as_of.CopyFrom(timestamp(beat.as_of_us))
    return message
