"""Metrics: one OpenTelemetry MeterProvider per process, scraped by Prometheus, pushed by OTLP.

`configure` installs the provider once per process with the service name as resource, and

- serves the Prometheus text format (the official `opentelemetry-exporter-prometheus` reader and
  `prometheus_client`'s HTTP server, in a thread of its own) on the process's metrics port,
  `SMARTCITY_<NAME>_METRICS_PORT` (defaults in `config.DEFAULT_METRICS_PORTS`, 9460 for the
  gateway, 9461-9466 for the services; 0 picks a free port, logged as `metrics_serving`), bound to
  `SMARTCITY_BIND` like the gRPC port. The gateway serves them there too, never on its public
  port: the entry points expose no `/metrics`. `SMARTCITY_METRICS=false` turns this off.
- pushes them over OTLP (gRPC) every 15 s when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

The instruments (OpenTelemetry semantic conventions where one exists; no identifiers, no
personal data in any attribute):

- `rpc.server.duration` (histogram, ms): rpc.system, rpc.service, rpc.method,
  rpc.grpc.status_code; every call a service answered.
- `http.server.request.duration` (histogram, s): http.request.method, http.route (the route's
  template, never the path), http.response.status_code; every request the gateway answered.
- `smartcity.outbox.pending` (gauge, events) and `smartcity.outbox.oldest_age` (gauge, s): what
  waits in the service's outbox; `smartcity.outbox.published` (counter, events).
- `smartcity.consumer.lag` (gauge, events), `smartcity.consumer.redeliveries` and
  `smartcity.consumer.parked` (counters, events): by messaging.consumer.group.name (the durable).
- `smartcity.consumer.refused` (counter, events): events a consumer terminated unapplied (a
  `ce-source` that does not own the subject, or a handler's `EventRefused`), by the durable and
  smartcity.refusal.reason.
- `smartcity.faults.injected` (counter): by smartcity.service and smartcity.fault.kind.

Prometheus names follow the exporter's translation: dots become underscores and the unit is
appended, e.g. `rpc_server_duration_milliseconds_count{rpc_method="...",rpc_grpc_status_code="14"}`.
Before `configure` (unit tests, tools) every instrument is a no-op.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader

from runtime import logs
from runtime.config import Settings

__all__ = [
    "CONSUMER_LAG",
    "CONSUMER_PARKED",
    "CONSUMER_REDELIVERIES",
    "CONSUMER_REFUSED",
    "FAULTS_INJECTED",
    "HTTP_DURATION",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PENDING",
    "OUTBOX_PUBLISHED",
    "RPC_DURATION",
    "Exposition",
    "HttpRecorder",
    "RpcRecorder",
    "configure",
    "install",
]

log = logs.get(__name__)

RPC_DURATION = "rpc.server.duration"
HTTP_DURATION = "http.server.request.duration"
OUTBOX_PENDING = "smartcity.outbox.pending"
OUTBOX_OLDEST_AGE = "smartcity.outbox.oldest_age"
OUTBOX_PUBLISHED = "smartcity.outbox.published"
CONSUMER_LAG = "smartcity.consumer.lag"
CONSUMER_REDELIVERIES = "smartcity.consumer.redeliveries"
CONSUMER_PARKED = "smartcity.consumer.parked"
CONSUMER_REFUSED = "smartcity.consumer.refused"
FAULTS_INJECTED = "smartcity.faults.injected"

CONSUMER_ATTRIBUTE = "messaging.consumer.group.name"
# How often the outbox and the consumers' lag are read (a query, a JetStream request).
POLL_SECONDS = 5.0
OTLP_EXPORT_MILLIS = 15_000

# Most calls here take well under 10 ms; the semantic conventions' HTTP buckets are in seconds.
_RPC_BUCKETS_MS = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                   5000.0, 10000.0)  # fmt: skip
_HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                   10.0)  # fmt: skip


class _Backlog:
    """What the pollers last read, for the gauges (read on the exporter's thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outbox: tuple[int, int | None] | None = None  # (pending, oldest created_us)
        self.consumers: dict[str, int] = {}

    def outbox_pending(self, options: CallbackOptions) -> Iterable[Observation]:
        outbox = self.outbox
        return [] if outbox is None else [Observation(outbox[0])]

    def outbox_oldest_age(self, options: CallbackOptions) -> Iterable[Observation]:
        outbox = self.outbox
        if outbox is None:
            return []
        oldest = outbox[1]
        # Computed when read, so that it grows between two polls while nothing is published.
        age = 0.0 if oldest is None else max(time.time() - oldest / 1e6, 0.0)
        return [Observation(age)]

    def consumer_lag(self, options: CallbackOptions) -> Iterable[Observation]:
        with self.lock:
            lags = list(self.consumers.items())
        return [Observation(lag, {CONSUMER_ATTRIBUTE: durable}) for durable, lag in lags]


_backlog = _Backlog()


class _Instruments:
    def __init__(self, meter: Meter) -> None:
        self.rpc_duration = meter.create_histogram(
            RPC_DURATION,
            unit="ms",
            description="Duration of the gRPC calls this server answered",
            explicit_bucket_boundaries_advisory=_RPC_BUCKETS_MS,
        )
        self.http_duration = meter.create_histogram(
            HTTP_DURATION,
            unit="s",
            description="Duration of the HTTP requests the gateway answered",
            explicit_bucket_boundaries_advisory=_HTTP_BUCKETS_S,
        )
        self.outbox_published = meter.create_counter(
            OUTBOX_PUBLISHED, unit="{event}", description="Events the outbox relay published"
        )
        self.redeliveries = meter.create_counter(
            CONSUMER_REDELIVERIES,
            unit="{event}",
            description="Events a consumer received more than once (after a failure or timeout)",
        )
        self.parked = meter.create_counter(
            CONSUMER_PARKED,
            unit="{event}",
            description="Events a consumer gave up on after the last delivery (event_parked)",
        )
        self.refused = meter.create_counter(
            CONSUMER_REFUSED,
            unit="{event}",
            description="Events a consumer refused unapplied (event_refused): a source that "
            "does not own the subject, or a record its handler refused",
        )
        self.faults = meter.create_counter(
            FAULTS_INJECTED, description="Failures injected by SMARTCITY_FAULTS"
        )
        meter.create_observable_gauge(
            OUTBOX_PENDING,
            callbacks=[_backlog.outbox_pending],
            unit="{event}",
            description="Events committed and waiting in the outbox to be published",
        )
        meter.create_observable_gauge(
            OUTBOX_OLDEST_AGE,
            callbacks=[_backlog.outbox_oldest_age],
            unit="s",
            description="Age of the oldest event waiting in the outbox",
        )
        meter.create_observable_gauge(
            CONSUMER_LAG,
            callbacks=[_backlog.consumer_lag],
            unit="{event}",
            description="Events of the stream a durable consumer has not acknowledged yet",
        )


_instruments = _Instruments(otel_metrics.NoOpMeterProvider().get_meter("smartcity"))


def install(provider: MeterProvider | None) -> None:
    """Create the platform's instruments on `provider` (None: no-ops again). `configure` does
    this; tests call it with a provider of their own. Recorders bound before keep the old ones."""
    global _instruments
    meter_provider = provider if provider is not None else otel_metrics.NoOpMeterProvider()
    _instruments = _Instruments(meter_provider.get_meter("smartcity"))
    _backlog.outbox = None
    with _backlog.lock:
        _backlog.consumers.clear()


@dataclass
class Exposition:
    """The process's meter provider and its Prometheus endpoint (port None: not served)."""

    provider: MeterProvider
    port: int | None
    _server: Any = None

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.provider.shutdown()


_configured: Exposition | None = None


def configure(*, service: str, settings: Settings) -> Exposition:
    """Install the process's meter provider (once: later calls return the first) and serve its
    metrics. A taken metrics port is logged (`metrics_port_taken`, naming the variable) and
    the process serves on without a Prometheus endpoint: metrics never stop a service."""
    global _configured
    if _configured is not None:
        return _configured
    from opentelemetry.sdk.resources import Resource

    readers: list[MetricReader] = []
    registry = None
    if settings.metrics:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector

        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # CPU, memory, open files of the process
        GCCollector(registry=registry)
        readers.append(PrometheusMetricReader(registry=registry))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        readers.append(
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=settings.otlp_endpoint),
                export_interval_millis=OTLP_EXPORT_MILLIS,
            )
        )
    provider = MeterProvider(
        metric_readers=readers,
        resource=Resource.create({"service.name": f"smartcity-{service}"}),
        # Exemplars would cost every record a look at the current span: not on the hot path.
        exemplar_filter=AlwaysOffExemplarFilter(),
        shutdown_on_exit=False,
    )
    otel_metrics.set_meter_provider(provider)  # also for the instruments made with get_meter
    install(provider)
    exposition = Exposition(provider=provider, port=None)
    if registry is not None:
        exposition._server, exposition.port = _serve(registry, service=service, settings=settings)
    _configured = exposition
    return exposition


def _serve(registry: Any, *, service: str, settings: Settings) -> tuple[Any, int | None]:
    from prometheus_client import start_http_server

    wanted = settings.metrics_port(service)
    variable = f"SMARTCITY_{service.upper()}_METRICS_PORT"
    try:
        server, _thread = start_http_server(wanted, addr=settings.bind_address, registry=registry)
    except OSError as exc:
        log.warning(
            "metrics_port_taken",
            port=wanted,
            variable=variable,
            error=exc.strerror or type(exc).__name__,
        )
        return None, None
    port = int(server.server_port)
    log.info("metrics_serving", port=port, path="/metrics")
    return server, port


def shutdown() -> None:
    """Stop serving and flush the OTLP exporter (the process is stopping)."""
    global _configured
    if _configured is not None:
        _configured.shutdown()
        _configured = None


# --------------------------------------------------------------------------------------------
# Recording: bound once per method or route, so a request pays a dict lookup and one record.


class RpcRecorder:
    """`rpc.server.duration` of one gRPC method, its attribute sets made once per status."""

    __slots__ = ("_base", "_by_code", "_histogram")

    def __init__(self, method: str) -> None:
        service, _, rpc = method[1:].rpartition("/")
        self._histogram = _instruments.rpc_duration
        self._base = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc}
        self._by_code: dict[int, dict[str, Any]] = {}

    def record(self, code: int, milliseconds: float) -> None:
        attributes = self._by_code.get(code)
        if attributes is None:
            attributes = self._by_code[code] = {**self._base, "rpc.grpc.status_code": code}
        self._histogram.record(milliseconds, attributes)


class HttpRecorder:
    """`http.server.request.duration` of the gateway, by route template, method and status."""

    __slots__ = ("_attributes",)

    def __init__(self) -> None:
        # Made at import, before `configure`: the instrument is looked up at each record.
        self._attributes: dict[tuple[str, str, int], dict[str, Any]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        attributes = self._attributes.get(key)
        if attributes is None:
            # `route` is the template (`/office/v1/catalog/resources/{id}`), never the path.
            attributes = self._attributes[key] = {
                "http.request.method": method,
                "http.route": route,
                "http.response.status_code": status,
            }
        _instruments.http_duration.record(seconds, attributes)


def outbox_published(count: int) -> None:
    _instruments.outbox_published.add(count)


def consumer_redelivered(durable: str) -> None:
    _instruments.redeliveries.add(1, {CONSUMER_ATTRIBUTE: durable})


def consumer_parked(durable: str) -> None:
    _instruments.parked.add(1, {CONSUMER_ATTRIBUTE: durable})


def consumer_refused(durable: str, *, reason: str) -> None:
    _instruments.refused.add(1, {CONSUMER_ATTRIBUTE: durable, "smartcity.refusal.reason": reason})


def fault_injected(*, service: str, kind: str) -> None:
    _instruments.faults.add(1, {"smartcity.service": service, "smartcity.fault.kind": kind})


def outbox_backlog(pending: int, oldest_created_us: int | None) -> None:
    """What the outbox holds now (read by `OutboxRelay.watch_backlog`)."""
    _backlog.outbox = (pending, oldest_created_us)


def consumer_lag(durable: str, lag: int | None) -> None:
    """A durable consumer's lag; None forgets it (JetStream unreachable: no stale value)."""
    with _backlog.lock:
        if lag is None:
            _backlog.consumers.pop(durable, None)
        else:
            _backlog.consumers[durable] = lag
