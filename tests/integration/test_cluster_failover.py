"""Scale-out, proved here: a real three-node NATS cluster on loopback (the same nats-server binary)
with streams replicated three times, two replicas of the exchange sharing one database and one
durable consumer, load through the gateway; one NATS node and one replica are killed mid-run.
Every acknowledged write's event reaches the exchange, none is lost, and both replicas did work.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from conftest import BASE_ENV, Platform, eventually, resource_body
from runtime import config
from runtime.launcher import nats_server_binary, platform_specs, resolve_ports
from runtime.processes import ProcessSpec, Supervisor, free_port, tcp_open

pytestmark = pytest.mark.integration

CONCURRENCY = 4
AFTER_KILL = 150  # writes acknowledged after the kill
MAX_WRITES = 5000
CREATED = "process smartcity.catalog.resource.created"


def _cluster_config(directory: Path, index: int, clients: list[int], routes: list[int]) -> Path:
    others = ", ".join(
        f'"nats-route://127.0.0.1:{port}"' for i, port in enumerate(routes) if i != index
    )
    path = directory / f"n{index}.conf"
    path.write_text(
        f"listen: 127.0.0.1:{clients[index]}\n"
        f"server_name: n{index}\n"
        f'jetstream {{ store_dir: "{directory / f"n{index}"}" }}\n'
        f"cluster {{ name: smartcity-test, listen: 127.0.0.1:{routes[index]},\n"
        f"  routes: [{others}] }}\n"
    )
    return path


async def _cluster_ready(url: str) -> bool:
    """JetStream answers once the cluster has elected its meta leader."""
    import nats

    try:
        nc = await nats.connect(url, connect_timeout=1, allow_reconnect=False)
    except Exception:
        return False
    try:
        await nc.jetstream().account_info()
        return True
    except Exception:
        return False
    finally:
        await nc.close()


def _known_resources(database: Path) -> set[str]:
    with sqlite3.connect(database, timeout=10) as conn:
        return {row[0] for row in conn.execute("SELECT resource_id FROM known_resources")}


def _processed_by(traces: Path) -> dict[str, int]:
    """How many catalog events each exchange process handled, from its own span file."""
    counts: dict[str, int] = {}
    for path in traces.rglob("exchange-*.jsonl*"):
        counts[path.name] = path.read_text(errors="replace").count(CREATED)
    return counts


async def test_a_nats_node_and_a_replica_die_and_no_acknowledged_write_is_lost(
    tmp_path: Path,
) -> None:
    supervisor = Supervisor(restart=False)
    clients = [free_port() for _ in range(3)]
    routes = [free_port() for _ in range(3)]
    urls = [f"nats://127.0.0.1:{port}" for port in clients]
    try:
        for i in range(3):
            conf = _cluster_config(tmp_path, i, clients, routes)
            await supervisor.start(
                ProcessSpec(
                    name=f"nats{i}",
                    argv=[nats_server_binary(), "-c", str(conf)],
                    ready=lambda port=clients[i]: tcp_open(port),
                    log_path=tmp_path / f"nats{i}.log",
                )
            )
        assert await eventually(lambda: _cluster_ready(urls[0]), timeout=30)

        # the platform's processes on the cluster, streams replicated three times; the two
        # exchange replicas share one database and the durable consumer of catalog events
        shared = tmp_path / "shared"
        shared.mkdir()
        exchange_db = shared / "exchange.db"
        env = {
            **BASE_ENV,
            "SMARTCITY_DATA_DIR": str(tmp_path / "platform"),
            "SMARTCITY_NATS_URL": ",".join(urls),
            "SMARTCITY_STREAM_REPLICAS": "3",
        }
        env.update(resolve_ports({**os.environ, **env}))
        settings = config.load(env)
        specs = {spec.name: spec for spec in platform_specs(settings, env)}
        replica_env = {**env, "SMARTCITY_DATABASE_URL": f"sqlite+aiosqlite:///{exchange_db}"}
        replicas = [
            dataclasses.replace(specs["exchange"], env=replica_env),
            dataclasses.replace(
                specs["exchange"],
                name="exchange-b",
                env={
                    **replica_env,
                    "SMARTCITY_EXCHANGE_PORT": str(free_port()),
                    "SMARTCITY_DATA_DIR": str(tmp_path / "replica-b"),
                },
                log_path=tmp_path / "exchange-b.log",
                ready=lambda: asyncio.sleep(0, result=True),
            ),
        ]
        for spec in (specs["identity"], specs["catalog"], *replicas, specs["gateway"]):
            await supervisor.start(spec)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            platform = Platform(settings, env, supervisor, http)
            officer = await platform.login("psb.officer")
            acknowledged: list[str] = []
            after_kill: list[str] = []
            failed: list[Any] = []
            killed = asyncio.Event()
            numbers = iter(range(MAX_WRITES))

            async def writer() -> None:
                # writes go on until enough were acknowledged after the kill, too
                for n in numbers:
                    if killed.is_set() and len(after_kill) >= AFTER_KILL:
                        return
                    body = resource_body("psb", name=f"故障演练资源 failover resource {n}")
                    try:
                        status, created, _ = await platform.request(
                            "POST", "/office/v1/catalog/resources", token=officer, json=body
                        )
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        failed.append(repr(exc))
                        continue
                    if status != 201:
                        failed.append(status)
                        continue
                    acknowledged.append(created["id"])
                    if killed.is_set():
                        after_kill.append(created["id"])

            async def chaos() -> dict[str, int]:
                async def both_worked() -> dict[str, int] | None:
                    # span files are written every few seconds: wait for both replicas' own
                    counts = _processed_by(tmp_path)
                    return counts if len([n for n in counts.values() if n > 0]) >= 2 else None

                before = await eventually(both_worked, timeout=30)
                supervisor.kill("nats1")  # a NATS node: SIGKILL
                supervisor.kill("exchange-b")  # and one replica of the exchange
                killed.set()
                return before

            started = time.monotonic()
            results = await asyncio.gather(*(writer() for _ in range(CONCURRENCY)), chaos())
            shared_work = results[-1]
            elapsed = time.monotonic() - started

        # then: every acknowledged write's event reached the exchange, through the survivors
        async def all_known() -> bool:
            return set(acknowledged) <= _known_resources(exchange_db)

        assert await eventually(all_known, timeout=60), (
            f"{len(set(acknowledged) - _known_resources(exchange_db))} of {len(acknowledged)} "
            f"acknowledged writes never reached the exchange"
        )
        # writes refused while the cluster elected new leaders are allowed, not lost ones
        assert len(after_kill) >= AFTER_KILL, (len(after_kill), failed[:5])
        # the streams were replicated three times: a node's death lost no copy
        import nats

        nc = await nats.connect(urls[0], connect_timeout=5)
        try:
            info = await nc.jetstream().stream_info("CATALOG")
        finally:
            await nc.close()
        assert info.config.num_replicas == 3
        # and both replicas handled events before one was killed (checked before the kill)
        assert len([n for n in shared_work.values() if n > 0]) >= 2, shared_work
        print(
            f"\nfailover: {len(acknowledged)} writes acknowledged in {elapsed:.1f} s "
            f"({len(after_kill)} after the kill), {len(failed)} refused, none lost; events "
            f"handled per replica before the kill: {sorted(shared_work.values())}"
        )
    finally:
        await supervisor.stop_all()
