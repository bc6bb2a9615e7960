"""Ended sessions stay ended: across restarts of every verifier, with NATS down, and a verifier
that can neither hear nor ask identity refuses rather than trusts (runtime/revocation.py). The
list needs no credentials and holds only session ids and times; every watch ends after its
lifetime.
Against real processes: the platform's own, and identity's store on a real SQLite database."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import jwt
import pytest
import pytest_asyncio

from conftest import Platform, eventually
from gateway.routes import ROUTES
from runtime import config
from runtime.storage import Database, now_us
from services.identity import ended_sessions, store
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc
from smartcity.licences.v1 import licences_pb2, licences_pb2_grpc

pytestmark = pytest.mark.integration

CITIZEN = "demo.citizen"
MINE = "/public/v1/licences/mine"


@pytest_asyncio.fixture
async def identity_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}", service="identity")
    await db.migrate(store.MIGRATIONS)
    yield db
    await db.close()


async def open_and_end(db: Database, *session_ids: str) -> None:
    async with db.begin() as conn:
        for sid in session_ids:
            await store.add_session(
                conn, id=sid, account_id="a1", audience="public", expires_us=now_us() + 10**9
            )
            await store.end_sessions(conn, account_id="a1", session_id=sid, reason="logout")


async def test_the_feed_lists_the_live_ended_sessions_then_beats_with_the_new_ones(
    identity_db: Database,
) -> None:
    announcer = ended_sessions.Announcer(identity_db)
    stopping = asyncio.Event()
    beating = asyncio.create_task(announcer.run(stopping))
    await open_and_end(identity_db, "s1", "s2")
    feed = aiter(announcer.watch())
    # the first answer: every ended session whose tokens may still be unexpired
    first = await anext(feed)
    assert set(first.session_ids) == {"s1", "s2"} and first.as_of_us is not None
    # then, within a heartbeat, the sessions ended meanwhile, in a window that joins up
    await open_and_end(identity_db, "s3")
    async with asyncio.timeout(2):
        while "s3" not in (beat := await anext(feed)).session_ids:
            pass
    assert beat.as_of_us is not None and beat.ended_after_us <= first.as_of_us
    # and when identity stops, the feed ends at once: the server's graceful stop waits for no one
    stopping.set()
    async with asyncio.timeout(2):
        async for _ in feed:
            pass
    await beating


async def test_a_watch_ends_after_its_lifetime_and_no_later(identity_db: Database) -> None:
    """Every watch is bounded (WATCH_LIFETIME_SECONDS over gRPC); its verifier opens it again."""
    assert 0 < ended_sessions.WATCH_LIFETIME_SECONDS <= 600
    announcer = ended_sessions.Announcer(identity_db)
    stopping = asyncio.Event()
    beating = asyncio.create_task(announcer.run(stopping))
    try:
        # given a watch with a lifetime of a second
        opened = time.monotonic()
        beats = [beat async for beat in announcer.watch(lifetime=1.0)]
        # then it heard the list and heartbeats, and ended after a second, not later
        lasted = time.monotonic() - opened
        assert 1.0 <= lasted < 2.0, lasted
        assert len(beats) >= 2 and beats[0].as_of_us is not None
    finally:
        stopping.set()
        await beating


async def test_ended_sessions_are_listed_page_by_page_in_the_order_they_ended(
    identity_db: Database,
) -> None:
    await open_and_end(identity_db, "s1", "s2", "s3", "s4", "s5")
    announcer = ended_sessions.Announcer(identity_db)
    seen: list[str] = []
    token = ""
    while True:
        page = await announcer.list_ended(
            identity_pb2.ListEndedSessionsRequest(page_size=2, page_token=token)
        )
        seen += page.session_ids
        token = page.next_page_token
        if not token:
            break
    assert seen == ["s1", "s2", "s3", "s4", "s5"]
    # and only those ended from a time on, when asked so
    since = identity_pb2.ListEndedSessionsRequest()
    since.ended_after.FromMicroseconds(now_us() + 10**6)
    assert list((await announcer.list_ended(since)).session_ids) == []


# --- the platform ---------------------------------------------------------------------------


async def licences_call(p: Platform, token: str) -> grpc.StatusCode:
    """A citizen's own call straight to the licences service, past the gateway."""
    async with grpc.aio.insecure_channel(p.settings.grpc_target("licences")) as channel:
        stub = licences_pb2_grpc.LicencesServiceStub(channel)
        try:
            await stub.ListLicences(
                licences_pb2.ListLicencesRequest(),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=5,
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def fresh_citizen_token(p: Platform) -> str:
    p.forget_tokens("public")
    token = await p.login(CITIZEN, entry="public")
    status, body, _ = await p.request("GET", MINE, token=token)
    assert status == 200, body
    assert await licences_call(p, token) == grpc.StatusCode.OK
    return token


async def logout(p: Platform, token: str) -> None:
    status, body, _ = await p.request("POST", "/public/v1/logout", token=token)
    assert status in (200, 204), body
    p.forget_tokens("public")


async def test_a_token_ended_by_logout_stays_refused_after_every_verifier_restarts(
    fragile_platform: Platform,
) -> None:
    p = fragile_platform
    token = await fresh_citizen_token(p)
    await logout(p, token)
    # when the gateway and every service restart (they forget everything they held in memory)
    for name in ("gateway", *reversed(config.SERVICES)):
        await p.supervisor.stop(name)
    for name in (*config.SERVICES, "gateway"):
        await p.supervisor.start(p.spec(name))
    # then the token is still refused, at the gateway and by a service called directly
    status, problem, _ = await p.request("GET", MINE, token=token)
    assert status == 401, problem
    assert "ended" in problem["detail"]
    assert await licences_call(p, token) == grpc.StatusCode.UNAUTHENTICATED
    # while a live session's token is served as before
    await fresh_citizen_token(p)


async def test_with_nats_down_a_logout_takes_effect_everywhere_within_a_second(
    fragile_platform: Platform,
) -> None:
    p = fragile_platform
    token = await fresh_citizen_token(p)
    p.supervisor.kill("nats")
    await p.supervisor.wait_exit("nats")
    try:
        await logout(p, token)
        ended = time.monotonic()

        async def refused_everywhere() -> bool:
            status, _, _ = await p.request("GET", MINE, token=token)
            return (
                status == 401 and await licences_call(p, token) == grpc.StatusCode.UNAUTHENTICATED
            )

        await eventually(refused_everywhere, timeout=5, interval=0.05)
        took = time.monotonic() - ended
        assert took < 1.0, f"the ended session's token was accepted for {took:.2f} s"
        # and a live session keeps working with the bus down
        await fresh_citizen_token(p)
    finally:
        await p.supervisor.start(p.spec("nats"))


async def test_a_verifier_that_can_neither_hear_nor_ask_identity_refuses_with_the_cause(
    fragile_platform: Platform,
) -> None:
    p = fragile_platform
    token = await fresh_citizen_token(p)
    await p.supervisor.stop("identity")
    try:
        # once the feed is silent for longer than SMARTCITY_REVOCATION_STALE_MS (1.5 s)
        async def refused() -> tuple[int, dict[str, str]] | None:
            status, problem, _ = await p.request("GET", MINE, token=token)
            return (status, problem) if status != 200 else None

        status, problem = await eventually(refused, timeout=5, interval=0.1)
        # then the gateway answers 503, saying why, not 200 and not a bare 401
        assert status == 503, problem
        assert "identity" in problem["detail"] and "retry shortly" in problem["detail"]
        # and so does a service called directly
        assert await licences_call(p, token) == grpc.StatusCode.UNAVAILABLE
    finally:
        await p.supervisor.start(p.spec("identity"))

    async def served() -> bool:
        status, _, _ = await p.request("GET", MINE, token=token)
        return status == 200

    await eventually(served, timeout=10)


async def test_anyone_may_read_or_watch_the_ended_sessions_which_hold_only_session_ids(
    fragile_platform: Platform,
) -> None:
    """Like the JWKS: every verifier reads the list before it has any credentials of its own."""
    p = fragile_platform
    # given a citizen whose session has ended, and an officer signed in
    ended = await fresh_citizen_token(p)
    claims = jwt.decode(ended, options={"verify_signature": False})
    await logout(p, ended)
    officer = await p.login("psb.officer")
    async with grpc.aio.insecure_channel(p.settings.grpc_target("identity")) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        for token in ("", officer):
            metadata = (("authorization", f"Bearer {token}"),) if token else ()
            # when anyone lists the ended sessions, or watches them
            listed = await stub.ListEndedSessions(
                identity_pb2.ListEndedSessionsRequest(), metadata=metadata, timeout=5
            )
            watch = stub.WatchEndedSessions(
                identity_pb2.WatchEndedSessionsRequest(), metadata=metadata, timeout=5
            )
            first = await anext(aiter(watch))
            watch.cancel()
            # then both answer, with the ended session among the ids
            for answer in (listed, first):
                assert claims["sid"] in answer.session_ids
                # and nothing else: every id a random session id, never the account's
                assert all(uuid.UUID(sid).version == 4 for sid in answer.session_ids)
                assert claims["sub"] not in answer.session_ids
    # the answers' fields: session ids, times and a page token, nothing that names anyone
    assert {f.name for f in identity_pb2.ListEndedSessionsResponse.DESCRIPTOR.fields} == {
        "session_ids",
        "next_page_token",
        "as_of",
        "ended_after",
    }
    assert {f.name for f in identity_pb2.WatchEndedSessionsResponse.DESCRIPTOR.fields} == {
        "session_ids",
        "ended_after",
        "as_of",
    }
    # and only identity's internal gRPC port serves them: no gateway route reaches them
    assert not [r.path for r in ROUTES if "EndedSessions" in inspect.getsource(r.handler)]
