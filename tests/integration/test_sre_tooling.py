"""An SRE rehearses incidents: injected faults are found from `smartcity trace` and the metrics.

A platform of its own, started with `SMARTCITY_FAULTS` (the open-catalog search always fails,
the public departments list is slow) and each process's Prometheus endpoint on a known port.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from conftest import NatsServer, Platform, eventually, start_platform
from runtime import config, trace_cli
from runtime.processes import free_port

pytestmark = pytest.mark.integration

FAULTS = "catalog:fail=1.0@SearchOpenCatalog,identity:slow=300ms@ListDepartments"
FAILING_FLAG = "catalog:fail=1@SearchOpenCatalog"
METRICS_PROCESSES = (*config.SERVICES, "gateway")


@pytest_asyncio.fixture(scope="module")
async def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    settings, env, supervisor = await start_platform(
        tmp_path_factory.mktemp("rehearsal"),
        SMARTCITY_FAULTS=FAULTS,
        **{f"SMARTCITY_{n.upper()}_METRICS_PORT": str(free_port()) for n in METRICS_PROCESSES},
    )
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            yield Platform(settings, env, supervisor, http)
    finally:
        await supervisor.stop_all()


async def scrape(platform: Platform, process: str) -> str:
    port = platform.settings.metrics_port(process)
    async with platform.http.get(f"http://127.0.0.1:{port}/metrics") as reply:
        assert reply.status == 200
        return await reply.text()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of `name` whose labels include `labels`."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rpartition(" ")[2])
    return None


async def test_an_injected_failure_is_found_from_the_trace_and_its_logs(
    rehearsal: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a search that fails by injection, tagged with the front-end's request id
    status, problem, headers = await rehearsal.request(
        "GET", "/public/v1/catalog/open?q=parking", headers={"X-Request-Id": "sre-rehearsal-1"}
    )
    assert status == 503, problem
    assert headers["Content-Type"].startswith("application/problem+json")
    trace_id = headers["traceresponse"].split("-")[1]
    assert problem["trace_id"] == trace_id

    # when the SRE asks for the trace with its logs
    args = ["--data-dir", str(rehearsal.data_dir), trace_id, "--logs"]

    async def shown() -> str:
        capsys.readouterr()
        code = trace_cli.run(args)
        out = capsys.readouterr().out
        both = "SearchOpenCatalog" in out and "GET /public/v1/catalog/open" in out
        return out if code == 0 and both else ""

    out = await eventually(shown, timeout=20)

    # then the failing catalog span says the fault was injected, and its log line is under it
    lines = out.splitlines()
    span_name = "catalog  smartcity.catalog.v1.CatalogService/SearchOpenCatalog"
    (catalog,) = [i for i, line in enumerate(lines) if span_name in line]
    assert "ERROR: UNAVAILABLE" in lines[catalog]
    assert f"[fault injected: {FAILING_FLAG}]" in lines[catalog]
    under = lines[catalog + 1 : catalog + 4]
    assert any(
        "warning fault_injected" in line and f"fault={FAILING_FLAG}" in line for line in under
    ), out
    # the gateway's own span carries its request log line, without the trace and span ids
    (request_line,) = [line for line in lines if " info request " in line]
    assert "status=503" in request_line and "route=/public/v1/catalog/open" in request_line
    assert trace_id not in request_line

    # and the same trace is found by the request id, and among the last failing requests
    capsys.readouterr()
    by_request = ["--data-dir", str(rehearsal.data_dir), "--request-id", "sre-rehearsal-1"]
    assert trace_cli.run([*by_request, "--logs"]) == 0
    assert "fault_injected" in capsys.readouterr().out
    assert trace_cli.run(["--data-dir", str(rehearsal.data_dir), "--recent", "5", "--errors"]) == 0
    assert trace_id in capsys.readouterr().out


async def test_an_injected_delay_shows_in_the_span(
    rehearsal: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    status, body, headers = await rehearsal.request("GET", "/public/v1/departments")
    assert status == 200 and body["departments"]
    assert time.monotonic() - started >= 0.3
    trace_id = headers["traceresponse"].split("-")[1]

    async def shown() -> str:
        capsys.readouterr()
        code = trace_cli.run(["--data-dir", str(rehearsal.data_dir), trace_id, "--logs"])
        out = capsys.readouterr().out
        both = "ListDepartments" in out and "GET /public/v1/departments" in out
        return out if code == 0 and both else ""

    out = await eventually(shown, timeout=20)
    span_name = "identity  smartcity.identity.v1.IdentityService/ListDepartments"
    (identity,) = [line for line in out.splitlines() if span_name in line]
    assert "[fault injected: identity:slow=300ms@ListDepartments]" in identity
    assert float(re.search(r"([0-9.]+) ms", identity)[1]) >= 300  # type: ignore[index]


async def test_metrics_show_the_injected_errors_and_the_bus_gauges(rehearsal: Platform) -> None:
    # given an injected failure seen by a client
    status, _, _ = await rehearsal.request("GET", "/public/v1/catalog/open?q=metrics")
    assert status == 503

    # then the catalog's metrics count it per method and status, and its bus gauges are there
    async def catalog_metrics() -> str:
        text = await scrape(rehearsal, "catalog")
        ready = sample(text, "smartcity_consumer_lag") is not None
        return text if ready and sample(text, "smartcity_outbox_pending") is not None else ""

    text = await eventually(catalog_metrics, timeout=20)
    unavailable = sample(
        text,
        "rpc_server_duration_milliseconds_count",
        rpc_method="SearchOpenCatalog",
        rpc_service="smartcity.catalog.v1.CatalogService",
        rpc_grpc_status_code="14",
    )
    assert unavailable is not None and unavailable >= 1
    injected = sample(
        text,
        "smartcity_faults_injected_total",
        smartcity_service="catalog",
        smartcity_fault_kind="fail",
    )
    assert injected is not None and injected >= 1
    assert sample(text, "smartcity_outbox_oldest_age_seconds") is not None
    lag = sample(
        text, "smartcity_consumer_lag", messaging_consumer_group_name="catalog-dataset-updated"
    )
    assert lag is not None and lag >= 0
    assert 'service_name="smartcity-catalog"' in text

    # and the gateway's, by route template and status
    gateway = await scrape(rehearsal, "gateway")
    answered = sample(
        gateway,
        "http_server_request_duration_seconds_count",
        http_route="/public/v1/catalog/open",
        http_response_status_code="503",
        http_request_method="GET",
    )
    assert answered is not None and answered >= 1
    # the entry points serve no metrics
    status, _, _ = await rehearsal.request("GET", "/metrics")
    assert status == 404


# Identifiers as the platform makes them: UUIDs, trace and span ids, long numbers (ID numbers).
_IDENTIFIER = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{16,}\b|\d{9,}"
)
# Resource attributes: the instance id is the process's own, made by the SDK, not the platform's.
_RESOURCE_LABELS = {"service_instance_id"}


async def test_no_metric_label_carries_an_identifier(rehearsal: Platform) -> None:
    await rehearsal.request(
        "GET", "/public/v1/catalog/open?q=labels", headers={"X-Request-Id": "sre-label-check"}
    )
    for process in METRICS_PROCESSES:
        text = await scrape(rehearsal, process)
        assert "sre-label-check" not in text
        for line in text.splitlines():
            if line.startswith("#") or "{" not in line:
                continue
            name, _, rest = line.partition("{")
            assert not _IDENTIFIER.search(name), line
            for key, value in re.findall(r'(\w+)="([^"]*)"', rest.partition("}")[0]):
                if key not in _RESOURCE_LABELS:
                    assert not _IDENTIFIER.search(value), (process, line)


async def test_a_nats_stall_holds_the_outbox_and_the_backlog_shows_it(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from runtime import metrics
    from runtime.bus import outbox as bus_outbox
    from runtime.bus.events import EventType
    from runtime.bus.nats import connect, ensure_stream
    from runtime.bus.outbox import OutboxRelay, enqueue
    from runtime.storage import Database
    from smartcity.catalog.v1 import events_pb2

    reader = InMemoryMetricReader()
    metrics.install(MeterProvider(metric_readers=[reader]))
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'stall.db'}", service="catalog")
    await db.migrate(bus_outbox.MIGRATIONS)
    et = EventType("smartcity.catalog.stalltest.created", events_pb2.ResourceCreated)
    # given a relay under `nats:stall=1s` (here before every round, not once a minute)
    relay = OutboxRelay(db, source="/smartcity/catalog", stall_seconds=1.0, stall_every=0.0)
    async with db.begin() as conn:
        await enqueue(conn, et, events_pb2.ResourceCreated(resource_id="r-1"), entity_id="r-1")
    nc = await connect(nats_server.url, name="stall-test", seed=nats_server.seed)
    try:
        js = nc.jetstream()
        await ensure_stream(js, "catalog")
        task = asyncio.create_task(relay.run(js))
        # when the stall holds it, the event waits and the backlog says how long
        await asyncio.sleep(0.5)
        pending, oldest = await relay.backlog()
        assert relay.published == 0 and pending == 1 and oldest is not None
        # then it is published once the stall is over, and the stall was counted
        await eventually(lambda: _published(relay), timeout=10)
        assert await relay.backlog() == (0, None)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await nc.close()
        await db.close()
        metrics.install(None)
    data = reader.get_metrics_data()
    assert data is not None
    names = {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert {metrics.FAULTS_INJECTED, metrics.OUTBOX_PUBLISHED} <= names


async def _published(relay: Any) -> bool:
    return bool(relay.published == 1)
