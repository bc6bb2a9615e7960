"""Faults against real processes: SIGKILL, NATS down, a service down."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid

import pytest

from conftest import Platform, eventually, resource_body

pytestmark = pytest.mark.integration


def code() -> str:
    return f"R{uuid.uuid4().hex[:10].upper()}"


def outbox_size(platform: Platform) -> int:
    path = platform.data_dir / "catalog" / "catalog.db"
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


async def test_acknowledged_writes_survive_sigkill_of_the_catalog(
    fragile_platform: Platform,
) -> None:
    p = fragile_platform
    token = await p.login("psb.officer")

    async def create() -> str | None:
        status, body, _ = await p.request(
            "POST", "/office/v1/catalog/resources", token=token, json=resource_body()
        )
        return body["id"] if status == 201 else None

    # writes in flight while the catalog is killed: every acknowledged one must survive
    burst = [asyncio.create_task(create()) for _ in range(20)]
    await asyncio.sleep(0.05)
    p.supervisor.kill("catalog")
    acknowledged = [rid for rid in await asyncio.gather(*burst) if rid]
    await p.supervisor.wait_exit("catalog")
    await p.supervisor.start(p.spec("catalog"))
    await p.until_ready()
    for rid in acknowledged:
        status, _, _ = await p.request("GET", f"/office/v1/catalog/resources/{rid}", token=token)
        assert status == 200, rid

    # and so do their events: the exchange learns of every one of them
    async def all_learnt() -> bool:
        return set(acknowledged) <= set(await p.exchange_resources(token))

    await eventually(all_learnt, timeout=30)


async def test_events_committed_while_nats_is_down_are_delivered_when_it_is_back(
    fragile_platform: Platform,
) -> None:
    p = fragile_platform
    token = await p.login("psb.officer")
    p.supervisor.kill("nats")
    await p.supervisor.wait_exit("nats")
    created = []
    try:
        for _ in range(3):
            status, body, _ = await p.request(
                "POST", "/office/v1/catalog/resources", token=token, json=resource_body()
            )
            assert status == 201, body  # writes are accepted with the bus down
            created.append(body["id"])
        assert not set(created) & set(await p.exchange_resources(token))
    finally:
        await p.supervisor.start(p.spec("nats"))  # whatever happened, for the next tests

    async def delivered() -> bool:
        return set(created) <= set(await p.exchange_resources(token))

    await eventually(delivered, timeout=40)


async def test_a_published_event_survives_sigkill_of_nats(fragile_platform: Platform) -> None:
    p = fragile_platform
    token = await p.login("psb.officer")
    await p.supervisor.stop("exchange")  # nobody consumes yet
    status, body, _ = await p.request(
        "POST", "/office/v1/catalog/resources", token=token, json=resource_body()
    )
    assert status == 201

    async def relayed() -> bool:
        return outbox_size(p) == 0  # JetStream acknowledged it

    await eventually(relayed)
    p.supervisor.kill("nats")
    await p.supervisor.wait_exit("nats")
    await p.supervisor.start(p.spec("nats"))
    await p.supervisor.start(p.spec("exchange"))

    async def learnt() -> bool:
        return body["id"] in set(await p.exchange_resources(token))

    await eventually(learnt, timeout=40)


async def test_gateway_answers_503_with_retry_after_at_once_when_a_service_is_down(
    fragile_platform: Platform,
) -> None:
    p = fragile_platform
    token = await p.login("psb.officer")
    await p.supervisor.stop("exchange")
    try:
        started = time.monotonic()
        status, problem, headers = await p.request(
            "GET", "/office/v1/exchange/resources", token=token
        )
        elapsed = time.monotonic() - started
        assert status == 503, problem
        assert headers["Retry-After"] == "1"
        assert "exchange" in problem["detail"]
        assert elapsed < 5, f"the gateway hung for {elapsed:.1f}s instead of failing fast"
        status, ready, _ = await p.request("GET", "/readyz")
        assert status == 503 and ready["services"]["exchange"] == "UNREACHABLE"
    finally:
        await p.supervisor.start(p.spec("exchange"))

    async def served_again() -> bool:
        status, _, _ = await p.request("GET", "/office/v1/exchange/resources", token=token)
        return status == 200

    await eventually(served_again, timeout=5)
