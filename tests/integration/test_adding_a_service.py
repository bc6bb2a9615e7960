"""Adding a service is one folder plus one line: the greeter (tests/integration/greeter/, a
service of the tests' own), registered at run time, is launched as `smartcity up` launches the
platform's services, reached through the gateway's upstream table, and its server span is the
child of its caller's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from greeter import SPEC
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import BASE_ENV, eventually
from gateway.upstream import Upstream
from runtime import config, grpcclient, service_registry
from runtime.launcher import platform_specs, resolve_ports
from runtime.processes import Supervisor
from runtime.spanstore import JsonlSpanExporter, SpanRecord, load_trace

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent


def _environment(data_dir: Path) -> dict[str, str]:
    """The platform's test environment, with the greeter's module on the path."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    env = {
        **BASE_ENV,
        "SMARTCITY_DATA_DIR": str(data_dir),
        "SMARTCITY_GREETER_PORT": "0",
        "SMARTCITY_GREETER_METRICS_PORT": "0",
        "PYTHONPATH": path,
    }
    env.update(resolve_ports({**os.environ, **env}))
    return env


@pytest.fixture
def greeter_registered() -> Iterator[None]:
    service_registry.register(SPEC)  # the one line
    try:
        yield
    finally:
        service_registry.unregister(SPEC.name)


async def test_a_registered_service_is_launched_reached_and_traced(
    tmp_path: Path, greeter_registered: None
) -> None:
    # given the platform's environment, with the greeter's module on the path
    env = _environment(tmp_path)
    settings = config.load(env)
    assert settings.port("greeter") != 0

    # when the launcher starts it (ready once its gRPC health check answers SERVING)
    launched = next(p for p in platform_specs(settings, env) if p.name == SPEC.name)
    assert launched.argv[-2:] == ["-m", "greeter"]
    supervisor = Supervisor(restart=False)
    upstream: Upstream | None = None
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(JsonlSpanExporter(settings.traces_dir, service="caller"))
    )
    try:
        await supervisor.start(launched)
        # and a caller reaches it through the gateway's upstream table, in a span of its own
        upstream = Upstream.connect(settings)
        stub = upstream.stub(SPEC.name)
        with provider.get_tracer("tests").start_as_current_span("greet") as caller:
            reply = await grpcclient.call(
                stub.Greet,  # type: ignore[attr-defined]
                StringValue(value="Haikou"),
                timeout=5.0,
            )

        # then it answers, its health counts among the upstreams', and one trace holds both spans
        assert reply.value == "Hello, Haikou"
        assert (await upstream.health())[SPEC.name] == "SERVING"
        context = caller.get_span_context()
        trace_id = format(context.trace_id, "032x")

        async def server_span() -> SpanRecord | None:
            spans = load_trace(settings.traces_dir, trace_id)
            return next((s for s in spans if s.name == f"{SPEC.grpc_service}/Greet"), None)

        greeted = await eventually(server_span, timeout=15)
        assert greeted.service == SPEC.name
        assert greeted.parent_span_id == format(context.span_id, "016x")
    finally:
        if upstream is not None:
            await upstream.close()
        await supervisor.stop_all()
        provider.shutdown()


def test_a_start_that_fails_after_the_database_opened_closes_it(
    tmp_path: Path, greeter_registered: None
) -> None:
    # given a service whose start fails once its database is open and migrated
    env = {**os.environ, **_environment(tmp_path), "GREETER_FAIL_ON_START": "1"}
    # when it runs
    done = subprocess.run(
        [sys.executable, "-m", "greeter"], env=env, capture_output=True, timeout=60, check=False
    )
    # then it fails, and its database was closed on the way out: SQLite removes the write-ahead
    # log when its last connection closes, and keeps it while one is left open
    assert done.returncode != 0
    assert b"the greeter fails to start" in done.stderr
    database = tmp_path / "greeter" / "greeter.db"
    assert database.exists()
    assert not database.with_name("greeter.db-wal").exists()
