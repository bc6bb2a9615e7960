"""With OTEL_EXPORTER_OTLP_ENDPOINT set, spans go to a collector over OTLP/gRPC, not the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from conftest import eventually
from runtime import config, telemetry

pytestmark = pytest.mark.integration


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP receiver: it keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_spans_are_exported_over_otlp_when_an_endpoint_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "_tracer", telemetry.tracer())  # restored after the test
    collector = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        settings = config.load(
            {
                "SMARTCITY_DATA_DIR": str(tmp_path),
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            }
        )
        provider = telemetry.configure(service="catalog", settings=settings)
        span, token = telemetry.start_span(
            "smartcity.catalog.v1.CatalogService/GetResource",
            parent=telemetry.extract({}),
            kind=trace.SpanKind.SERVER,
            attributes={"rpc.system": "grpc"},
        )
        telemetry.finish(span, token)
        # The exporter is a blocking client: flush off the loop that serves the collector.
        await asyncio.to_thread(provider.force_flush)

        async def received() -> bool:
            return bool(collector.requests)

        await eventually(received, timeout=15)
        resource_spans = collector.requests[0].resource_spans[0]
        service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        assert service["service.name"] == "smartcity-catalog"
        names = [s.name for ss in resource_spans.scope_spans for s in ss.spans]
        assert names == ["smartcity.catalog.v1.CatalogService/GetResource"]
        assert not (tmp_path / "traces").exists()  # the local store is not written as well
        await asyncio.to_thread(provider.shutdown)
    finally:
        await server.stop(None)
