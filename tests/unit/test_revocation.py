"""A verifier's list of ended sessions: loaded from identity's feed, kept live by its heartbeat,
asked for when the feed is silent, and refused rather than trusted when identity cannot answer.

`Identity` below is a second, in-memory implementation of the feed (`runtime.revocation.Feed`):
the real one is tested against real processes in tests/integration/test_ended_sessions.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from runtime.auth import TOKEN_TYPE, TokenVerifier
from runtime.errors import Unauthenticated, Unavailable
from runtime.revocation import Beat, EndedSessions, EndedSince, Feed
from services.identity.domain import Account, Subject, access_token_claims

ISSUER = "http://localhost:8080"

STALE = 0.3
POLL = 0.2


class Identity:
    """Sessions ended at times of identity's own clock; a feed that sends the live list, then
    whatever heartbeats the test puts in; and answers to verifiers that ask."""

    def __init__(self) -> None:
        self.now_us = 1_000_000_000
        self.ended: dict[str, int] = {}
        # None: the watch's lifetime is up, identity ends it
        self.beats: asyncio.Queue[Beat | Exception | None] = asyncio.Queue()
        self.down = False
        self.watches = 0
        self.asked: list[int | None] = []

    def end(self, session_id: str) -> None:
        self.now_us += 1_000
        self.ended[session_id] = self.now_us

    def heartbeat(self, *, window_us: int = 10_000_000) -> None:
        self.now_us += 500_000
        since = self.now_us - window_us
        ids = [sid for sid, at in self.ended.items() if at >= since]
        self.beats.put_nowait(Beat(ids, since, self.now_us))

    async def watch(self) -> AsyncIterator[Beat]:
        self.watches += 1
        if self.down:
            raise ConnectionError("identity is down")
        yield Beat(list(self.ended), self.now_us - 360_000_000, self.now_us)
        while True:
            beat = await self.beats.get()
            if beat is None:
                return
            if isinstance(beat, Exception):
                raise beat
            yield beat

    async def ask(self, ended_after_us: int | None) -> EndedSince:
        self.asked.append(ended_after_us)
        if self.down:
            raise ConnectionError("identity is down")
        since = ended_after_us if ended_after_us is not None else 0
        return EndedSince([s for s, at in self.ended.items() if at >= since], self.now_us)

    def feed(self) -> Feed:
        return Feed(watch=self.watch, ask=self.ask)


class Keys:
    """Identity's signing key, and the JWKS a verifier fetches."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()

    async def jwks(self) -> str:
        jwk = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        jwk.update(kid="k1", alg="EdDSA", use="sig")
        return orjson.dumps({"keys": [jwk]}).decode()

    def token(self, session_id: str) -> str:
        account = Account("acc-1", "demo.citizen", "citizen", department="", roles=())
        claims = access_token_claims(
            Subject(account),
            session_id=session_id,
            issuer=ISSUER,
            audience="public",
            now=int(time.time()),
        )
        return jwt.encode(
            dict(claims), self.private, algorithm="EdDSA", headers={"kid": "k1", "typ": TOKEN_TYPE}
        )


@pytest.fixture
def identity() -> Identity:
    return Identity()


@pytest.fixture
def sessions(identity: Identity) -> EndedSessions:
    return EndedSessions(identity.feed(), stale_seconds=STALE, poll_seconds=POLL)


async def hearing(sessions: EndedSessions) -> asyncio.Task[None]:
    task = asyncio.create_task(sessions.follow())
    for _ in range(100):
        if sessions.live():
            break
        await asyncio.sleep(0.01)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_verifier_without_a_feed_trusts_what_it_hears() -> None:
    sessions = EndedSessions()
    assert sessions.live()
    sessions.end(["s1"])
    assert "s1" in sessions.ended


async def test_the_feed_first_loads_every_live_ended_session(
    identity: Identity, sessions: EndedSessions
) -> None:
    # given sessions ended before the verifier started
    identity.end("s1")
    identity.end("s2")
    # when it opens identity's feed
    task = await hearing(sessions)
    # then it knows them all and trusts its list
    assert sessions.live()
    assert {"s1", "s2"} <= set(sessions.ended)
    await stop(task)


async def test_a_heartbeat_brings_an_end_whose_event_was_lost(
    identity: Identity, sessions: EndedSessions
) -> None:
    task = await hearing(sessions)
    identity.end("s3")  # no SessionsEnded event reaches the verifier
    identity.heartbeat()
    await asyncio.sleep(0.05)
    assert "s3" in sessions.ended and sessions.live()
    await stop(task)


async def test_without_heartbeats_the_list_is_no_longer_trusted(
    identity: Identity, sessions: EndedSessions
) -> None:
    task = await hearing(sessions)
    assert sessions.live()
    await asyncio.sleep(STALE + 0.05)
    assert not sessions.live()
    await stop(task)


async def test_heartbeats_keep_the_list_trusted(
    identity: Identity, sessions: EndedSessions
) -> None:
    task = await hearing(sessions)
    for _ in range(4):
        await asyncio.sleep(STALE / 2)
        identity.heartbeat()
        await asyncio.sleep(0.01)
        assert sessions.live()
    await stop(task)


async def test_a_broken_feed_is_trusted_only_until_its_last_heartbeat_goes_stale(
    identity: Identity, sessions: EndedSessions
) -> None:
    task = await hearing(sessions)
    identity.down = True  # the feed cannot open again
    identity.beats.put_nowait(ConnectionError("the stream broke"))
    await asyncio.sleep(0.02)
    assert sessions.live()  # as complete as at the last heartbeat, a moment ago
    await asyncio.sleep(STALE)
    assert not sessions.live()
    with pytest.raises(Unavailable, match=r"feed broke \(ConnectionError\)"):
        await sessions.catch_up()
    await stop(task)


async def test_a_feed_ended_after_its_lifetime_is_opened_again_at_once_and_stays_trusted(
    identity: Identity, sessions: EndedSessions
) -> None:
    task = await hearing(sessions)
    # given the feed has been open and heard for longer than a second
    for _ in range(12):
        await asyncio.sleep(0.1)
        identity.heartbeat()
    # when identity ends it (its lifetime is up), and a session ends meanwhile
    identity.end("s9")
    identity.beats.put_nowait(None)
    # then the verifier opens it again at once, with s9 in the list, trusting it throughout
    for _ in range(50):
        assert sessions.live()
        if identity.watches == 2 and "s9" in sessions.ended:
            break
        await asyncio.sleep(0.01)
    assert identity.watches == 2 and "s9" in sessions.ended
    await stop(task)


async def test_a_heartbeat_that_does_not_join_up_loads_the_list_again(
    identity: Identity, sessions: EndedSessions
) -> None:
    task = await hearing(sessions)
    assert identity.watches == 1
    # given identity's heartbeats stopped for longer than their window (a stalled reader)
    identity.end("s4")
    identity.now_us += 60_000_000
    identity.heartbeat()  # its window no longer reaches back to the last complete list
    # then the verifier opens the feed again: the live list, with s4
    for _ in range(100):
        if identity.watches == 2 and sessions.live():
            break
        await asyncio.sleep(0.02)
    assert identity.watches == 2 and "s4" in sessions.ended and sessions.live()
    await stop(task)


async def test_a_silent_verifier_asks_identity_at_most_once_per_interval(
    identity: Identity, sessions: EndedSessions
) -> None:
    # given a verifier that has not heard the feed (identity's stream cannot open)
    identity.end("s1")
    # when requests come, it asks identity once for all of them
    await asyncio.gather(*(sessions.catch_up() for _ in range(20)))
    assert identity.asked == [None]  # the first ask: the whole live list
    assert "s1" in sessions.ended
    await sessions.catch_up()
    assert len(identity.asked) == 1
    # and once the answer is older than the interval, it asks again, from before it was complete
    identity.end("s2")
    await asyncio.sleep(POLL + 0.02)
    await sessions.catch_up()
    assert len(identity.asked) == 2 and identity.asked[1] is not None
    assert "s2" in sessions.ended


async def test_a_silent_verifier_refuses_when_identity_cannot_be_asked(
    identity: Identity, sessions: EndedSessions
) -> None:
    identity.down = True
    with pytest.raises(Unavailable) as refused:
        await sessions.catch_up()
    # the message names both causes
    assert "identity's feed" in str(refused.value)
    assert "cannot be asked (ConnectionError)" in str(refused.value)
    # and identity is not asked again by every request: the refusal holds for the interval
    with pytest.raises(Unavailable):
        await sessions.catch_up()
    assert len(identity.asked) == 1
    # once it answers again, so does the verifier
    identity.down = False
    await asyncio.sleep(POLL + 0.02)
    await sessions.catch_up()


async def test_the_verifier_refuses_a_cached_token_of_a_session_ended_later(
    identity: Identity, sessions: EndedSessions
) -> None:
    keys = Keys()
    verifier = TokenVerifier(keys.jwks, issuer=ISSUER, sessions=sessions)
    task = await hearing(sessions)
    token = keys.token("s1")
    assert (await verifier.verify(token)).session == "s1"
    # when identity ends the session, its heartbeat reaches the verifier
    identity.end("s1")
    identity.heartbeat()
    await asyncio.sleep(0.05)
    with pytest.raises(Unauthenticated, match="ended"):
        await verifier.verify(token)
    await stop(task)


async def test_a_verifier_that_can_neither_hear_nor_ask_identity_refuses_every_session_token(
    identity: Identity, sessions: EndedSessions
) -> None:
    keys = Keys()
    verifier = TokenVerifier(keys.jwks, issuer=ISSUER, sessions=sessions)
    identity.down = True
    started = time.monotonic()
    with pytest.raises(Unavailable, match="retry shortly"):
        await verifier.verify(keys.token("s1"))
    assert time.monotonic() - started < 0.5
    # a token of no session has nothing to check (none is issued so, but it is not refused)
    assert (await verifier.verify(keys.token(""))).session == ""
