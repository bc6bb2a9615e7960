"""Ended sessions, as every verifier knows them; and what a verifier does when it cannot know.

Identity ends a session (logout, password change, disabled account, ...) and announces it with
the event `smartcity.identity.session.ended`, which a verifier (the gateway and every service)
hears at once while NATS carries it. That alone forgot everything on a restart and let a token
of an ended session through whenever the event did not arrive. So each verifier also keeps a
feed from identity itself (`WatchEndedSessions`, a gRPC stream that needs no NATS):

- every time the feed opens (at start, again after every break, and when identity ends it after
  its fixed lifetime) its first answer is the live list: every session whose access tokens may
  still be unexpired;
- then, twice a second, a heartbeat repeats the sessions ended in the last
  `HEARTBEAT_WINDOW_SECONDS` (identity reads them from its database, so they include the ends
  other replicas committed and those whose event is still in an outbox);
- the verifier trusts its list while it has heard a heartbeat within `stale_seconds`
  (`SMARTCITY_REVOCATION_STALE_MS`); otherwise, before it vouches for a session's token, it asks
  identity for the sessions ended since its list was last complete (`ListEndedSessions`), at most
  once per `poll_seconds` (one answer serves every request and every session meanwhile); when
  identity cannot answer either, it refuses with `Unavailable` (503, gRPC UNAVAILABLE) naming both
  causes: it fails closed.

The guarantee: once identity has committed a session's end, every verifier refuses its tokens
within a heartbeat (about 0.5 s), NATS or no NATS; a restart forgets nothing (the list is loaded
before it is trusted); a verifier that cannot hear identity refuses rather than trusts. The hot
path pays one clock read and one dictionary lookup per request.

Times in answers are identity's clock; the verifier compares them only with each other, never
with its own (identity's replicas must agree within `CATCH_UP_MARGIN_SECONDS`).

The feed needs no credentials, as the JWKS needs none: it holds only random session ids and
times, so every verifier opens it from its first moment, with no service client to create first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from runtime import errors, grpcclient, logs

if TYPE_CHECKING:
    from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc

log = logs.get(__name__)

HEARTBEAT_SECONDS = 0.5
# Each heartbeat repeats the sessions ended this recently: a heartbeat or two lost on the way
# (a slow verifier) cost nothing, the next one has them.
HEARTBEAT_WINDOW_SECONDS = 10.0
# While the feed is silent, how long one answer from identity serves every request.
POLL_SECONDS = 1.0
# A catch-up asks from this far before the list was last complete: sessions whose end committed
# late (a slow transaction) or on a replica whose clock is a little behind are not missed.
CATCH_UP_MARGIN_SECONDS = 10.0
# How long a verifier remembers an ended session: longer than any access token lives.
MEMORY_SECONDS = 3600.0
# Asking identity on a request's path: bounded (every page included), then the request is
# refused.
ASK_TIMEOUT_SECONDS = 5.0
CALL_TIMEOUT_SECONDS = 2.0
# The feed's first answer is the whole live list, read from identity's database.
FIRST_ANSWER_SECONDS = 10.0
PAGE_SIZE = 10_000
_US = 1_000_000
_NEVER = -float("inf")


@dataclass(frozen=True)
class Beat:
    """One message of identity's feed: sessions ended at or after `ended_after_us` (identity's
    clock, microseconds since the epoch), complete as of `as_of_us`; None while a list that
    comes in several messages goes on."""

    session_ids: Sequence[str]
    ended_after_us: int
    as_of_us: int | None


@dataclass(frozen=True)
class EndedSince:
    """Identity's answer to a verifier that asks: the sessions ended since the time it gave,
    complete as of `as_of_us`."""

    session_ids: Sequence[str]
    as_of_us: int


@dataclass(frozen=True)
class Feed:
    """Where a verifier hears of ended sessions: `watch` opens identity's feed (the live list,
    then heartbeats); `ask` gets one answer, for the sessions ended at or after a time (None:
    every session whose tokens may still be unexpired)."""

    watch: Callable[[], AsyncIterator[Beat]]
    ask: Callable[[int | None], Awaitable[EndedSince]]


class EndedSessions:
    """The sessions whose tokens a verifier refuses, and whether it may trust that list now.

    Without a feed (tests, tools) it trusts the events it hears and never asks: a verifier with
    no identity to ask."""

    def __init__(
        self,
        feed: Feed | None = None,
        *,
        stale_seconds: float = 1.5,  # SMARTCITY_REVOCATION_STALE_MS, in seconds
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._feed = feed
        self._stale = stale_seconds
        self._poll = poll_seconds
        # session id -> when to forget it: by then every token of the session has expired.
        self.ended: dict[str, float] = {}
        # Identity's time up to which the list is complete (None: never loaded).
        self._complete_until: int | None = None
        self._heard_at = _NEVER  # monotonic: the last heartbeat that kept the list complete
        self._asked_at = _NEVER  # monotonic: when identity was last asked
        self._ask_failure = ""  # why the last ask failed ("" when it answered)
        self._silence = "identity's feed has not been heard yet"
        self._lock = asyncio.Lock()

    # --- the hot path: every request with a session's token --------------------------------

    def live(self) -> bool:
        """May the list be trusted now without asking identity?"""
        return self._feed is None or time.monotonic() - self._heard_at <= self._stale

    async def catch_up(self) -> None:
        """The feed is silent: make the list complete as of at most `poll_seconds` ago, asking
        identity if needed; `errors.Unavailable` when it cannot (fail closed)."""
        if time.monotonic() - self._asked_at >= self._poll:
            async with self._lock:
                if time.monotonic() - self._asked_at >= self._poll:
                    await self._ask()
        if self._ask_failure:
            raise errors.Unavailable(
                "cannot tell whether the session of this access token has ended: "
                f"{self._silence}, and the identity service cannot be asked "
                f"({self._ask_failure}); retry shortly"
            )

    # --- what identity says ---------------------------------------------------------------------

    def end(self, session_ids: Iterable[str]) -> None:
        """Refuse the tokens of these sessions from now on, though they have not expired."""
        now = time.time()
        if len(self.ended) > 100_000:
            self.ended = {sid: t for sid, t in self.ended.items() if t > now}
        for sid in session_ids:
            self.ended[sid] = now + MEMORY_SECONDS

    async def follow(self) -> None:
        """Hear identity's feed until cancelled, opening it again whenever it ends (after its
        lifetime, or when an identity replica stops), breaks or falls silent."""
        if self._feed is None:
            return
        backoff = 0.2
        while True:
            heard, opened = self._heard_at, time.monotonic()
            try:
                await self._hear(self._feed.watch())
                if time.monotonic() - opened >= 1.0:
                    backoff = 0.2
                    continue  # ended by identity (its lifetime is up): open it again at once
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._heard_at != heard:
                    backoff = 0.2  # it was open: a new outage
                # The list stays trusted until `stale_seconds` after the last heartbeat, as when
                # the feed falls silent: long enough to open it again; then requests ask.
                self._silence = f"identity's feed broke ({_reason(exc)})"
                # once per outage, not once per attempt
                report = log.warning if backoff == 0.2 else log.debug
                report("ended_sessions_feed_broken", error=_reason(exc), retry_in=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _hear(self, beats: AsyncIterator[Beat]) -> None:
        """Apply one opening of the feed: its first list replaces what the list is complete up
        to; each heartbeat after it must join up with the list (else the feed is opened again,
        which loads the list again)."""
        first = True
        iterator = aiter(beats)
        try:
            while True:
                wait = FIRST_ANSWER_SECONDS if first else self._stale + HEARTBEAT_SECONDS
                try:
                    async with asyncio.timeout(wait):
                        beat = await anext(iterator)
                except StopAsyncIteration:
                    if first:
                        raise RuntimeError("the feed ended before its first answer") from None
                    return
                except TimeoutError:
                    raise TimeoutError(f"no answer for {wait:.1f} s") from None
                self.end(beat.session_ids)
                if beat.as_of_us is None:
                    continue  # a list in several messages: more follows
                if first:
                    self._complete_until = beat.as_of_us
                    first = False
                    log.info("ended_sessions_loaded", count=len(self.ended))
                elif self._complete_until is not None and (
                    beat.ended_after_us <= self._complete_until
                ):
                    self._complete_until = max(self._complete_until, beat.as_of_us)
                else:
                    raise RuntimeError("a heartbeat did not join up with the list")
                self._heard_at = time.monotonic()
                self._silence = f"identity's feed is silent (no heartbeat for {self._stale:.1f} s)"
        finally:
            closing = getattr(iterator, "aclose", None)
            if closing is not None:
                await closing()

    async def _ask(self) -> None:
        assert self._feed is not None  # live() is always true without a feed
        started = time.monotonic()
        full = self._complete_until is None
        since = (
            None
            if self._complete_until is None
            else (self._complete_until - int(CATCH_UP_MARGIN_SECONDS * _US))
        )
        try:
            answer = await self._feed.ask(since)
        except Exception as exc:
            failure = _reason(exc)
            if failure != self._ask_failure:
                log.warning("ended_sessions_not_asked", error=failure, silence=self._silence)
            self._ask_failure = failure
        else:
            self.end(answer.session_ids)
            if full or self._complete_until is None:
                self._complete_until = answer.as_of_us
            else:
                self._complete_until = max(self._complete_until, answer.as_of_us)
            self._ask_failure = ""
        # From when it was sent: the answer holds for what had committed by then.
        self._asked_at = started


def _reason(exc: BaseException) -> str:
    """Why identity could not be heard or asked, fit for a client: a status code or a domain
    message, never a host or port."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return str(exc.code().name)
    if isinstance(exc, errors.DomainError | TimeoutError | RuntimeError):
        return str(exc) or type(exc).__name__
    return type(exc).__name__


def from_identity(stub: Callable[[], identity_pb2_grpc.IdentityServiceAsyncStub]) -> Feed:
    """Identity's feed over gRPC; it asks for no credentials (see the module's docstring)."""
    from smartcity.identity.v1 import identity_pb2

    async def watch() -> AsyncIterator[Beat]:
        call = stub().WatchEndedSessions(identity_pb2.WatchEndedSessionsRequest())
        try:
            async for response in call:
                yield _beat(response)
        finally:
            call.cancel()

    async def ask(ended_after_us: int | None) -> EndedSince:
        async with asyncio.timeout(ASK_TIMEOUT_SECONDS):
            ids: list[str] = []
            as_of_us: int | None = None
            page_token = ""
            while True:
                request = identity_pb2.ListEndedSessionsRequest(
                    page_size=PAGE_SIZE, page_token=page_token
                )
                if ended_after_us is not None:
                    request.ended_after.FromMicroseconds(ended_after_us)
                response = await grpcclient.call(
                    stub().ListEndedSessions, request, timeout=CALL_TIMEOUT_SECONDS
                )
                ids.extend(response.session_ids)
                if as_of_us is None:
                    as_of_us = response.as_of.ToMicroseconds()
                page_token = response.next_page_token
                if not page_token:
                    return EndedSince(ids, as_of_us)

    return Feed(watch=watch, ask=ask)


def _beat(response: identity_pb2.WatchEndedSessionsResponse) -> Beat:
    return Beat(
        session_ids=list(response.session_ids),
        ended_after_us=response.ended_after.ToMicroseconds(),
        as_of_us=response.as_of.ToMicroseconds() if response.HasField("as_of") else None,
    )
