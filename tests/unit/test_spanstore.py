"""The local span store: two real TracerProviders (two "processes") write, the CLI reads back."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from runtime import trace_cli
from runtime.spanstore import (
    JsonlSpanExporter,
    SpanRecord,
    load_trace,
    recent_traces,
    render_tree,
)

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


@dataclass(frozen=True)
class Store:
    directory: Path
    data_dir: Path
    trace_id: str  # the cross-process trace, with one failing span
    ok_trace_id: str  # a later single-span trace without error


def _provider(directory: Path, service: str) -> tuple[TracerProvider, JsonlSpanExporter]:
    exporter = JsonlSpanExporter(directory, service=service)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    directory = tmp_path / "traces"  # not created: the exporter must create it
    provider_a, _ = _provider(directory, "a")
    provider_b, _ = _provider(directory, "b")
    tracer_a = provider_a.get_tracer("test")
    tracer_b = provider_b.get_tracer("test")
    propagator = TraceContextTextMapPropagator()

    # Process "a" receives a request and calls process "b" with a traceparent header.
    root = tracer_a.start_span("GET /v1/datasets", kind=SpanKind.SERVER, start_time=T0)
    carrier: dict[str, str] = {}
    propagator.inject(carrier, context=trace.set_span_in_context(root))
    assert "traceparent" in carrier

    remote = propagator.extract(carrier)
    handler = tracer_b.start_span(
        "catalog.Catalog/GetDataset",
        context=remote,
        kind=SpanKind.SERVER,
        start_time=T0 + 2 * MS,
        attributes={"rpc.system": "grpc", "tags": ("x", "y")},
    )
    in_handler = trace.set_span_in_context(handler)
    query = tracer_b.start_span("db.select", context=in_handler, start_time=T0 + 3 * MS)
    query.add_event("rows", attributes={"count": 3}, timestamp=T0 + 4 * MS)
    query.end(end_time=T0 + 5 * MS)
    publish = tracer_b.start_span(
        "bus.publish", context=in_handler, kind=SpanKind.PRODUCER, start_time=T0 + 6 * MS
    )
    publish.set_status(Status(StatusCode.ERROR, "nats timeout"))
    publish.end(end_time=T0 + 8 * MS)
    handler.end(end_time=T0 + 12 * MS)

    render = tracer_a.start_span(
        "render", context=trace.set_span_in_context(root), start_time=T0 + 14 * MS
    )
    render.end(end_time=T0 + 18 * MS)
    root.end(end_time=T0 + 20 * MS)

    health = tracer_a.start_span("GET /healthz", kind=SpanKind.SERVER, start_time=T0 + 1000 * MS)
    health.end(end_time=T0 + 1001 * MS)

    yield Store(
        directory=directory,
        data_dir=tmp_path,
        trace_id=format(root.get_span_context().trace_id, "032x"),
        ok_trace_id=format(health.get_span_context().trace_id, "032x"),
    )
    provider_a.shutdown()
    provider_b.shutdown()


def _by_name(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {span.name: span for span in spans}


def test_one_file_per_service_and_process(store: Store) -> None:
    pid = os.getpid()
    assert sorted(p.name for p in store.directory.iterdir()) == [f"a-{pid}.jsonl", f"b-{pid}.jsonl"]
    lines = (store.directory / f"b-{pid}.jsonl").read_bytes().splitlines()
    assert len(lines) == 3
    first = orjson.loads(lines[0])
    assert first["name"] == "db.select"
    assert first["service"] == "b"
    assert len(first["trace_id"]) == 32
    assert len(first["span_id"]) == 16
    assert len(first["parent_span_id"]) == 16


def test_load_trace_joins_both_processes(store: Store) -> None:
    spans = load_trace(store.directory, store.trace_id)
    assert [span.name for span in spans] == [
        "GET /v1/datasets",
        "catalog.Catalog/GetDataset",
        "db.select",
        "bus.publish",
        "render",
    ]
    named = _by_name(spans)
    root, handler = named["GET /v1/datasets"], named["catalog.Catalog/GetDataset"]
    assert root.parent_span_id is None
    assert root.service == "a"
    assert root.kind == "SERVER"
    assert handler.service == "b"
    assert handler.parent_span_id == root.span_id
    assert named["db.select"].parent_span_id == handler.span_id
    assert named["render"].parent_span_id == root.span_id
    assert handler.attributes == {"rpc.system": "grpc", "tags": ["x", "y"]}
    assert handler.duration_ms == pytest.approx(10.0)
    publish = named["bus.publish"]
    assert (publish.kind, publish.status, publish.status_description) == (
        "PRODUCER",
        "ERROR",
        "nats timeout",
    )
    assert root.status == "UNSET"
    (event,) = named["db.select"].events
    assert (event.name, event.time_ns, event.attributes) == ("rows", T0 + 4 * MS, {"count": 3})
    # The other trace stays out.
    assert all(span.trace_id == store.trace_id for span in spans)
    assert [s.name for s in load_trace(store.directory, store.ok_trace_id)] == ["GET /healthz"]


def test_trace_id_is_case_insensitive(store: Store) -> None:
    assert len(load_trace(store.directory, store.trace_id.upper())) == 5


@pytest.mark.parametrize(
    "bad",
    ["", "xyz", "0" * 32, "g" * 32, "abc" * 10, "a" * 33, "12345678-1234-1234-1234-123456789abc"],
)
def test_malformed_trace_id_raises(store: Store, bad: str) -> None:
    with pytest.raises(ValueError, match="malformed trace id"):
        load_trace(store.directory, bad)


def test_missing_directory_gives_no_spans(tmp_path: Path) -> None:
    assert load_trace(tmp_path / "nowhere", "ab" * 16) == []
    assert recent_traces(tmp_path / "nowhere") == []


def test_render_tree_nests_child_process_under_parent(store: Store) -> None:
    text = render_tree(load_trace(store.directory, store.trace_id))
    lines = text.splitlines()
    assert lines[0] == f"trace {store.trace_id}  5 spans  2 services  20.0 ms"
    assert len(lines) == 6
    assert lines[1].startswith("a  GET /v1/datasets ")
    assert lines[2].startswith("├─ b  catalog.Catalog/GetDataset ")
    assert lines[3].startswith("│  ├─ b  db.select ")
    assert lines[4].startswith("│  └─ b  bus.publish ")
    assert lines[5].startswith("└─ a  render ")
    assert lines[1].endswith("20.0 ms  ok  +0.0 ms")
    assert lines[2].endswith("10.0 ms  ok  +2.0 ms")
    assert lines[3].endswith("2.0 ms  ok  +3.0 ms")
    assert lines[4].endswith("2.0 ms  ERROR: nats timeout  +6.0 ms")
    assert lines[5].endswith("4.0 ms  ok  +14.0 ms")
    assert "parent missing" not in text


def test_render_tree_shows_orphans_as_roots(store: Store) -> None:
    # Only process "b" has flushed: its server span's parent lives in "a".
    spans = [s for s in load_trace(store.directory, store.trace_id) if s.service == "b"]
    lines = render_tree(spans).splitlines()
    assert lines[0].startswith(f"trace {store.trace_id}  3 spans  1 services")
    assert lines[1].startswith("b  catalog.Catalog/GetDataset ")
    assert lines[1].endswith("(parent missing)")
    assert lines[2].startswith("├─ b  db.select ")
    assert lines[3].startswith("└─ b  bus.publish ")
    assert not lines[2].endswith("(parent missing)")


def test_render_tree_empty() -> None:
    assert render_tree([]) == "(no spans)"


def test_truncated_last_line_is_tolerated(store: Store) -> None:
    path = store.directory / f"b-{os.getpid()}.jsonl"
    with path.open("ab") as handle:
        handle.write(b'{"trace_id":"' + store.trace_id.encode() + b'","span_id":"00f0')
    assert len(load_trace(store.directory, store.trace_id)) == 5
    assert {s.trace_id for s in recent_traces(store.directory)} == {
        store.trace_id,
        store.ok_trace_id,
    }


def test_exporter_terminates_a_predecessors_truncated_line(tmp_path: Path) -> None:
    # A recycled pid appends to the file of a process that was killed mid-line.
    (tmp_path / f"c-{os.getpid()}.jsonl").write_bytes(b'{"trace_id":"0123')
    provider, _ = _provider(tmp_path, "c")
    span = provider.get_tracer("test").start_span("after-restart")
    span.end()
    provider.shutdown()
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert [s.name for s in load_trace(tmp_path, trace_id)] == ["after-restart"]


def test_recent_traces_newest_first_and_errors_only(store: Store) -> None:
    recent = recent_traces(store.directory)
    assert [s.trace_id for s in recent] == [store.ok_trace_id, store.trace_id]
    assert [s.has_error for s in recent] == [False, True]

    (failing,) = recent_traces(store.directory, only_errors=True)
    assert failing.trace_id == store.trace_id
    assert (failing.root_name, failing.service) == ("GET /v1/datasets", "a")
    assert failing.start_ns == T0
    assert failing.duration_ms == pytest.approx(20.0)
    assert failing.span_count == 5
    assert not failing.root_missing

    assert [s.trace_id for s in recent_traces(store.directory, limit=1)] == [store.ok_trace_id]


def test_recent_traces_uses_orphan_when_root_not_flushed(store: Store) -> None:
    (store.directory / f"a-{os.getpid()}.jsonl").unlink()
    (summary,) = recent_traces(store.directory)
    assert summary.trace_id == store.trace_id
    assert (summary.root_name, summary.service) == ("catalog.Catalog/GetDataset", "b")
    assert summary.root_missing


def test_rotation_starts_new_files(tmp_path: Path) -> None:
    exporter = JsonlSpanExporter(tmp_path, service="r", max_bytes=1)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root") as root:
        for index in range(3):
            with tracer.start_as_current_span(f"child-{index}"):
                pass
    provider.shutdown()
    pid = os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"r-{pid}-1.jsonl",
        f"r-{pid}-2.jsonl",
        f"r-{pid}-3.jsonl",
        f"r-{pid}.jsonl",
    ]
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert len(load_trace(tmp_path, trace_id)) == 4


def test_shutdown_closes_and_refuses_further_exports(tmp_path: Path) -> None:
    exporter = JsonlSpanExporter(tmp_path, service="s")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("one"):
        pass
    assert exporter.path is not None
    assert exporter.force_flush()
    provider.shutdown()
    tracer = TracerProvider().get_tracer("other")
    late = tracer.start_span("late")
    late.end()
    assert exporter.export([late]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert len(exporter.path.read_bytes().splitlines()) == 1


def test_concurrent_exports_keep_lines_whole(tmp_path: Path) -> None:
    provider, _ = _provider(tmp_path, "t")
    tracer = provider.get_tracer("test")

    def work() -> None:
        for index in range(50):
            with tracer.start_as_current_span(f"s{index}", attributes={"pad": "x" * 500}):
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    provider.shutdown()
    (path,) = tmp_path.iterdir()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 400
    assert all(orjson.loads(line)["attributes"]["pad"] == "x" * 500 for line in lines)


# ---- smartcity trace ----------------------------------------------------------------------


def test_cli_prints_tree(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert trace_cli.run(["--data-dir", str(store.data_dir), store.trace_id]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"trace {store.trace_id}  5 spans  2 services  20.0 ms"
    assert "│  └─ b  bus.publish" in out


def test_cli_json_lines(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert trace_cli.run(["--data-dir", str(store.data_dir), "--json", store.trace_id]) == 0
    records = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in records][:2] == ["GET /v1/datasets", "catalog.Catalog/GetDataset"]
    assert len(records) == 5
    assert {r["trace_id"] for r in records} == {store.trace_id}


def test_cli_unknown_trace_exits_1(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    missing = "ab" * 16
    assert trace_cli.run(["--data-dir", str(store.data_dir), missing]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no spans for trace {missing} under {store.directory}" in captured.err
    assert "try again" in captured.err


def test_cli_malformed_id_exits_2(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert trace_cli.run(["--data-dir", str(store.data_dir), "not-a-trace"]) == 2
    assert "malformed trace id" in capsys.readouterr().err


def test_cli_usage_errors_exit_2(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert trace_cli.run(["--data-dir", str(store.data_dir), "--recent", "0"]) == 2
    assert trace_cli.run(["--data-dir", str(store.data_dir), "--errors", store.trace_id]) == 2
    assert trace_cli.run(["--bogus"]) == 2
    assert "usage: smartcity trace" in capsys.readouterr().err


def test_cli_lists_recent_from_env_data_dir(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTCITY_DATA_DIR", str(store.data_dir))
    assert trace_cli.run([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"{store.ok_trace_id}  2023-11-14T22:13:21.000+00:00  a GET /healthz"
    )
    assert not lines[0].endswith("ERROR")
    assert lines[1].startswith(f"{store.trace_id}  2023-11-14T22:13:20.000+00:00  a ")
    assert lines[1].endswith("20.0 ms  ERROR")

    assert trace_cli.run(["--errors"]) == 0
    (only,) = capsys.readouterr().out.splitlines()
    assert only.startswith(store.trace_id)

    assert trace_cli.run(["--recent", "1", "--json"]) == 0
    (record,) = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["trace_id"] == store.ok_trace_id


def test_cli_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert trace_cli.run(["--data-dir", str(tmp_path)]) == 0
    assert "no traces under" in capsys.readouterr().err


def test_the_store_keeps_a_bounded_number_of_files_per_service(tmp_path: Path) -> None:
    # given an exporter that rotates after every batch and keeps two files
    exporter = JsonlSpanExporter(tmp_path, service="a", max_bytes=1, keep_files=2)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    # when it writes five batches
    for i in range(5):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    # then only the two newest files remain, and another service's files are untouched
    (tmp_path / "b-1.jsonl").write_text("")
    with tracer.start_as_current_span("s5"):
        pass
    names = sorted(p.name for p in tmp_path.glob("a-*.jsonl"))
    assert len(names) == 2, names
    assert (tmp_path / "b-1.jsonl").exists()
    provider.shutdown()
