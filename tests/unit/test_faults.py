"""Failure-injection flags: parsed once from SMARTCITY_FAULTS, off by default, recorded when on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime import errors, faults
from runtime.config import ConfigError

METHOD = "/smartcity.licences.v1.LicenceService/VerifyPresentation"
OTHER = "/smartcity.licences.v1.LicenceService/GetLicence"


def test_no_variable_means_no_fault() -> None:
    injected = faults.load({})
    assert not injected
    assert injected.for_method("licences", METHOD) is None
    assert injected.nats_stall_seconds == 0


def test_the_documented_example_parses() -> None:
    injected = faults.parse(
        "catalog:slow=300ms,exchange:fail=0.2,licences:fail=1.0@VerifyPresentation,nats:stall=5s"
    )
    assert injected.nats_stall_seconds == 5.0
    catalog = injected.for_method("catalog", "/smartcity.catalog.v1.CatalogService/Search")
    assert catalog is not None
    assert [(f.kind, f.delay_seconds) for f in catalog.faults] == [("slow", 0.3)]
    licences = injected.for_method("licences", METHOD)
    assert licences is not None and licences.faults[0].ratio == 1.0
    # limited to one method: the service's other methods are untouched
    assert injected.for_method("licences", OTHER) is None
    assert injected.for_method("identity", METHOD) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("catalog:slow=300", "duration"),
        ("catalog:fail=1.5", "ratio"),
        ("catalog:fail=x", "not <service>"),
        ("payroll:fail=0.5", "unknown service 'payroll'"),
        ("catalog:leak=1", "slow= or fail="),
        ("nats:slow=1s", "NATS takes only stall"),
        ("catalog slow", "not <service>"),
    ],
)
def test_malformed_flags_name_the_variable(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        faults.parse(text)
    assert "SMARTCITY_FAULTS" in str(raised.value)
    assert words in str(raised.value)


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_an_injected_failure_is_unavailable_and_on_the_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    bound = faults.parse("licences:fail=1@VerifyPresentation").for_method("licences", METHOD)
    assert bound is not None
    with (
        provider.get_tracer("test").start_as_current_span("call") as span,
        pytest.raises(errors.Unavailable) as raised,
    ):
        await bound.apply(span)
    assert "injected fault (licences:fail=1@VerifyPresentation)" in raised.value.message
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes is not None
    assert finished.attributes["smartcity.fault.injected"] == "licences:fail=1@VerifyPresentation"
    assert [e.name for e in finished.events] == ["smartcity.fault.injected"]


async def test_a_zero_ratio_never_fails_and_records_nothing(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    bound = faults.parse("licences:fail=0").for_method("licences", METHOD)
    assert bound is not None
    with provider.get_tracer("test").start_as_current_span("call") as span:
        for _ in range(100):
            await bound.apply(span)
    (finished,) = exporter.get_finished_spans()
    assert "smartcity.fault.injected" not in (finished.attributes or {})


async def test_a_slow_call_waits(spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    import time

    provider, _ = spans
    bound = faults.parse("licences:slow=50ms").for_method("licences", METHOD)
    assert bound is not None
    started = time.monotonic()
    with provider.get_tracer("test").start_as_current_span("call") as span:
        await bound.apply(span)
    assert time.monotonic() - started >= 0.045
