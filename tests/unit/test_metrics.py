"""Metrics: what the gRPC interceptor and the gateway record, and how Prometheus reads it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from runtime import config, faults, metrics
from runtime.auth import Policy, TokenVerifier
from runtime.grpcserver import create_server

ECHO = "/test.Echo/Echo"
BROKEN = "/test.Echo/Broken"


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.install(provider)
    yield reader
    metrics.install(None)
    provider.shutdown()


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def no_keys() -> str:
    return '{"keys": []}'


async def echo_server(injected: faults.Faults | None = None) -> tuple[grpc.aio.Server, int]:
    async def echo(request: bytes, context: Any) -> bytes:
        return request

    async def broken(request: bytes, context: Any) -> bytes:
        raise RuntimeError("boom")

    server = create_server(
        policies={ECHO: Policy(anonymous=True), BROKEN: Policy(anonymous=True)},
        verifier=TokenVerifier(no_keys, issuer="http://test"),
        service="catalog",
        faults=injected,
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Echo",
                {
                    "Echo": grpc.unary_unary_rpc_method_handler(echo),
                    "Broken": grpc.unary_unary_rpc_method_handler(broken),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def call(port: int, method: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            await channel.unary_unary(method)(b"hi", timeout=5)
        except grpc.aio.AioRpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


async def test_every_call_is_counted_by_method_and_status(reader: InMemoryMetricReader) -> None:
    server, port = await echo_server()
    try:
        assert await call(port, ECHO) == grpc.StatusCode.OK
        assert await call(port, ECHO) == grpc.StatusCode.OK
        assert await call(port, BROKEN) == grpc.StatusCode.INTERNAL
    finally:
        await server.stop(None)
    recorded = {
        (p.attributes["rpc.method"], p.attributes["rpc.grpc.status_code"]): p.count
        for p in points(reader, metrics.RPC_DURATION)
    }
    assert recorded == {("Echo", 0): 2, ("Broken", 13): 1}
    (echo,) = [
        p for p in points(reader, metrics.RPC_DURATION) if p.attributes["rpc.method"] == "Echo"
    ]
    assert dict(echo.attributes) == {
        "rpc.system": "grpc",
        "rpc.service": "test.Echo",
        "rpc.method": "Echo",
        "rpc.grpc.status_code": 0,
    }


async def test_an_injected_failure_is_unavailable_counted_and_limited_to_its_method(
    reader: InMemoryMetricReader,
) -> None:
    server, port = await echo_server(faults.parse("catalog:fail=1@Echo"))
    try:
        assert await call(port, ECHO) == grpc.StatusCode.UNAVAILABLE
        assert await call(port, BROKEN) == grpc.StatusCode.INTERNAL  # not injected: its own
    finally:
        await server.stop(None)
    statuses = {
        p.attributes["rpc.method"]: p.attributes["rpc.grpc.status_code"]
        for p in points(reader, metrics.RPC_DURATION)
    }
    assert statuses == {"Echo": grpc.StatusCode.UNAVAILABLE.value[0], "Broken": 13}
    (injected,) = points(reader, metrics.FAULTS_INJECTED)
    assert dict(injected.attributes) == {
        "smartcity.service": "catalog",
        "smartcity.fault.kind": "fail",
    }
    assert injected.value == 1


def test_gateway_records_the_route_template(reader: InMemoryMetricReader) -> None:
    recorder = metrics.HttpRecorder()
    recorder.record("GET", "/office/v1/catalog/resources/{resource_id}", 200, 0.004)
    recorder.record("GET", "/office/v1/catalog/resources/{resource_id}", 200, 0.006)
    (point,) = points(reader, metrics.HTTP_DURATION)
    assert point.count == 2
    assert point.attributes["http.route"] == "/office/v1/catalog/resources/{resource_id}"


def test_gauges_report_the_last_reading_and_forget_unknown_lag(
    reader: InMemoryMetricReader,
) -> None:
    metrics.outbox_backlog(7, int((time.time() - 30) * 1e6))
    metrics.consumer_lag("exchange-catalog-published", 12)
    (pending,) = points(reader, metrics.OUTBOX_PENDING)
    (age,) = points(reader, metrics.OUTBOX_OLDEST_AGE)
    (lag,) = points(reader, metrics.CONSUMER_LAG)
    assert pending.value == 7
    assert 29 <= age.value < 60
    assert lag.value == 12
    assert dict(lag.attributes) == {"messaging.consumer.group.name": "exchange-catalog-published"}
    metrics.consumer_lag("exchange-catalog-published", None)
    assert points(reader, metrics.CONSUMER_LAG) == []


def test_a_call_costs_the_metrics_a_few_microseconds(reader: InMemoryMetricReader) -> None:
    """The interceptor's share: one bound record per call (bench/README.md: cost matters)."""
    recorder = metrics.RpcRecorder(ECHO)
    rounds = 20_000
    started = time.perf_counter()
    for _ in range(rounds):
        recorder.record(0, 1.5)
    per_call_us = (time.perf_counter() - started) / rounds * 1e6
    assert per_call_us < 50, per_call_us  # a few µs here; generous for a shared machine


def test_settings_give_each_process_its_own_metrics_port() -> None:
    defaults = config.load({})
    assert defaults.metrics
    ports = [defaults.metrics_port(name) for name in (*config.SERVICES, "gateway")]
    assert len(set(ports)) == len(ports)
    assert defaults.port("gateway") not in ports  # never on the public entry points
    custom = config.load({"SMARTCITY_CATALOG_METRICS_PORT": "0", "SMARTCITY_METRICS": "off"})
    assert custom.metrics_port("catalog") == 0 and not custom.metrics
    with pytest.raises(config.ConfigError, match="SMARTCITY_KEYS_METRICS_PORT"):
        config.load({"SMARTCITY_KEYS_METRICS_PORT": "70000"})


def test_prometheus_exposition_serves_the_text_format_on_its_own_port() -> None:
    """In a fresh interpreter: `configure` sets the process's global meter provider once."""
    import subprocess
    import sys

    script = (
        "import urllib.request\n"
        "from runtime import config, metrics\n"
        "settings = config.load({'SMARTCITY_CATALOG_METRICS_PORT': '0'})\n"
        "exposition = metrics.configure(service='catalog', settings=settings)\n"
        "metrics.RpcRecorder('/smartcity.catalog.v1.CatalogService/Search').record(14, 2.0)\n"
        "url = f'http://127.0.0.1:{exposition.port}/metrics'\n"
        "print(urllib.request.urlopen(url, timeout=5).read().decode())\n"
        "exposition.shutdown()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    text = done.stdout
    assert 'service_name="smartcity-catalog"' in text  # target_info: the resource
    assert (
        'rpc_server_duration_milliseconds_count{otel_scope_name="smartcity",otel_scope_schema_url="",'
        'otel_scope_version="",rpc_grpc_status_code="14",rpc_method="Search",'
        'rpc_service="smartcity.catalog.v1.CatalogService",rpc_system="grpc"} 1.0'
    ) in text
    assert "process_cpu_seconds_total" in text


def test_a_taken_metrics_port_is_named_and_not_fatal() -> None:
    import socket

    from runtime.metrics import _serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = config.load({"SMARTCITY_KEYS_METRICS_PORT": str(port)})
        server, bound = _serve(None, service="keys", settings=settings)
    assert (server, bound) == (None, None)
