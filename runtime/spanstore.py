"""The local span store: finished spans as JSON lines under the data directory.

Without an OTLP collector every process (each service and the gateway) appends its finished spans
to its own file, ``<dir>/<service>-<pid>.jsonl``; one file per process means no locking between
processes and no interleaved lines. ``smartcity trace`` then reads all files back and prints one
trace as a tree across processes.

Files are bounded: once a file has grown past ``MAX_FILE_BYTES`` (64 MiB) the exporter continues in
``<service>-<pid>-1.jsonl``, ``-2`` and so on. Nothing is deleted here; old files can be removed
whenever the operator likes, a missing span only shows up as ``(parent missing)`` in the tree.

``load_logs`` reads the processes' JSON log lines of one trace back from ``<data dir>/logs`` and
groups them by ``span_id`` (``runtime.logs`` writes both ids on every line), so that the tree can
show under each span what that hop said.
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = [
    "MAX_FILE_BYTES",
    "JsonlSpanExporter",
    "LogLine",
    "SpanEvent",
    "SpanRecord",
    "TraceSummary",
    "load_logs",
    "load_trace",
    "normalize_trace_id",
    "recent_traces",
    "render_tree",
]

MAX_FILE_BYTES = 64 * 1024 * 1024
# Files kept per service across its processes: the store stays bounded (4 x 64 MiB each).
KEEP_FILES = 4

_TRACE_ID_RE = re.compile(r"[0-9a-f]{32}")
_UNSAFE_FILENAME_RE = re.compile(r"[^A-Za-z0-9_.-]")
# Span names and descriptions go to a terminal: control characters would break the tree layout.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# orjson's integer range: signed 64-bit below zero, unsigned 64-bit above.
_JSON_INT_MIN, _JSON_INT_MAX = -(2**63), 2**64 - 1


# --------------------------------------------------------------------------------------------
# Writing


def _jsonable(value: object) -> object:
    """An attribute value as something orjson serialises; sequences become lists."""
    if isinstance(value, str | bool | float) or value is None:
        return value
    if isinstance(value, int):
        # orjson refuses integers outside 64 bits; keep the digits rather than lose the span.
        return value if _JSON_INT_MIN <= value <= _JSON_INT_MAX else str(value)
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return str(value)


def _attributes(attributes: Mapping[str, object] | None) -> dict[str, object]:
    if not attributes:
        return {}
    return {str(key): _jsonable(value) for key, value in attributes.items()}


def _span_to_dict(span: ReadableSpan, service: str) -> dict[str, object]:
    context = span.get_span_context()
    trace_id = context.trace_id if context is not None else 0
    span_id = context.span_id if context is not None else 0
    parent = span.parent
    start_ns = span.start_time or 0
    return {
        "trace_id": format(trace_id, "032x"),
        "span_id": format(span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "service": service,
        "kind": span.kind.name,
        "start_ns": start_ns,
        "end_ns": span.end_time or start_ns,
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": _attributes(span.attributes),
        "events": [
            {
                "name": event.name,
                "time_ns": event.timestamp,
                "attributes": _attributes(event.attributes),
            }
            for event in span.events
        ],
    }


class JsonlSpanExporter(SpanExporter):
    """Append finished spans, one JSON object per line, to ``<directory>/<service>-<pid>.jsonl``.

    Thread-safe: the BatchSpanProcessor exports from its worker thread while ``shutdown`` may run
    on the main thread at exit. The file is opened lazily (so an idle process leaves no file) and
    flushed after every batch, so another process reading the store sees whole batches.
    """

    def __init__(
        self,
        directory: Path,
        *,
        service: str,
        max_bytes: int = MAX_FILE_BYTES,
        keep_files: int = KEEP_FILES,
    ) -> None:
        if max_bytes <= 0 or keep_files <= 0:
            raise ValueError("max_bytes and keep_files must be positive")
        self._keep_files = keep_files
        self._directory = Path(directory)
        self._service = service
        self._file_stem = _UNSAFE_FILENAME_RE.sub("_", service) or "service"
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._pid = 0
        self._index = 0
        self._size = 0
        self._closed = False

    @property
    def service(self) -> str:
        return self._service

    @property
    def path(self) -> Path | None:
        """The file currently written to, or None before the first export."""
        return self._path

    def _candidate(self, pid: int, index: int) -> Path:
        suffix = f"-{index}" if index else ""
        return self._directory / f"{self._file_stem}-{pid}{suffix}.jsonl"

    def _open(self) -> IO[bytes]:
        pid = os.getpid()
        if self._pid != pid:
            self._pid, self._index = pid, 0
        self._directory.mkdir(parents=True, exist_ok=True)
        path = self._candidate(pid, self._index)
        # A recycled pid may find its predecessor's files; skip the full ones.
        while path.exists() and path.stat().st_size >= self._max_bytes:
            self._index += 1
            path = self._candidate(pid, self._index)
        file = path.open("ab")
        self._prune(keep=path)
        self._size = os.fstat(file.fileno()).st_size
        if self._size and not _ends_with_newline(path):
            # The predecessor was killed mid-line: terminate it so our first span stays parseable.
            file.write(b"\n")
            self._size += 1
        self._file, self._path = file, path
        return file

    def _prune(self, *, keep: Path) -> None:
        """Delete this service's oldest files beyond `keep_files` (the current one stays)."""
        files = sorted(
            (f for f in self._directory.glob(f"{self._file_stem}-*.jsonl") if f != keep),
            key=lambda f: f.stat().st_mtime,
        )
        for old in files[: max(len(files) - (self._keep_files - 1), 0)]:
            old.unlink(missing_ok=True)

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        payload = b"".join(self._encode(span) for span in spans)
        if not payload:
            return SpanExportResult.FAILURE
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            try:
                if self._file is not None and self._pid != os.getpid():
                    # Forked child: the inherited handle is the parent's file.
                    self._close_file()
                if self._file is not None and self._size >= self._max_bytes:
                    self._close_file()
                    self._index += 1
                file = self._file if self._file is not None else self._open()
                file.write(payload)
                file.flush()
                self._size += len(payload)
            except OSError:
                # Tracing must never take the service down; drop the batch instead.
                self._close_file()
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _encode(self, span: ReadableSpan) -> bytes:
        try:
            return orjson.dumps(
                _span_to_dict(span, self._service), option=orjson.OPT_APPEND_NEWLINE, default=str
            )
        except TypeError:
            # orjson.JSONEncodeError: one unserialisable span must not cost the whole batch.
            return b""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                except OSError:
                    return False
        return True

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            self._close_file()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


# --------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, object] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class SpanRecord:
    """One finished span as read back from the store."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_description: str | None
    attributes: dict[str, object] = field(default_factory=dict, hash=False)
    events: tuple[SpanEvent, ...] = ()

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6

    @property
    def is_error(self) -> bool:
        return self.status == "ERROR"

    def to_dict(self) -> dict[str, object]:
        """The record in the store's JSON layout."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "service": self.service,
            "kind": self.kind,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "status": self.status,
            "status_description": self.status_description,
            "attributes": self.attributes,
            "events": [
                {"name": e.name, "time_ns": e.time_ns, "attributes": e.attributes}
                for e in self.events
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> SpanRecord:
        """Parse one stored line; raises ValueError when a field is missing or mistyped."""
        if not isinstance(data, dict):
            raise ValueError("span record is not an object")
        try:
            parent = data.get("parent_span_id")
            description = data.get("status_description")
            attributes = data.get("attributes") or {}
            raw_events = data.get("events") or []
            if not isinstance(attributes, dict) or not isinstance(raw_events, list):
                raise ValueError("attributes/events have the wrong type")
            events = tuple(
                SpanEvent(
                    name=str(e["name"]),
                    time_ns=int(e["time_ns"]),
                    attributes=dict(e.get("attributes") or {}),
                )
                for e in raw_events
            )
            return cls(
                trace_id=str(data["trace_id"]).lower(),
                span_id=str(data["span_id"]).lower(),
                parent_span_id=str(parent).lower() if parent else None,
                name=str(data["name"]),
                service=str(data["service"]),
                kind=str(data.get("kind", "INTERNAL")),
                start_ns=int(data["start_ns"]),
                end_ns=int(data["end_ns"]),
                status=str(data.get("status", "UNSET")),
                status_description=str(description) if description is not None else None,
                attributes=attributes,
                events=events,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed span record: {exc!r}") from exc


@dataclass(frozen=True)
class TraceSummary:
    """One trace in the ``recent_traces`` listing.

    ``duration_ms`` spans the whole trace, earliest start to latest end; it equals the root span's
    duration whenever the root encloses its children. ``root_missing`` is true when no span of the
    trace lacks a parent, so the shown root is the earliest orphan.
    """

    trace_id: str
    root_name: str
    service: str
    start_ns: int
    duration_ms: float
    span_count: int
    has_error: bool
    root_missing: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "trace_id": self.trace_id,
            "root_name": self.root_name,
            "service": self.service,
            "start_ns": self.start_ns,
            "duration_ms": self.duration_ms,
            "span_count": self.span_count,
            "has_error": self.has_error,
            "root_missing": self.root_missing,
        }


def normalize_trace_id(trace_id: str) -> str:
    """The trace id as 32 lowercase hex digits; ValueError for anything else."""
    normalized = trace_id.strip().lower()
    if not _TRACE_ID_RE.fullmatch(normalized):
        raise ValueError(
            f"malformed trace id {trace_id!r}: expected 32 hexadecimal characters "
            "(as printed in logs and the traceparent header)"
        )
    if normalized == "0" * 32:
        raise ValueError("malformed trace id: the all-zero trace id is invalid")
    return normalized


def _store_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.rglob("*.jsonl") if path.is_file())


def _iter_records(directory: Path, *, needle: bytes | None = None) -> Iterator[SpanRecord]:
    """Every parseable record of the store; lines without ``needle`` are skipped unparsed."""
    for path in _store_files(directory):
        try:
            with path.open("rb") as handle:
                for line in handle:
                    if needle is not None and needle not in line:
                        continue
                    try:
                        yield SpanRecord.from_dict(orjson.loads(line))
                    except ValueError:
                        # A process killed mid-write leaves a truncated last line (orjson's
                        # JSONDecodeError is a ValueError); the rest of the file is still good.
                        continue
        except OSError:
            # A file rotated away or removed while we scan is simply not part of the answer.
            continue


REQUEST_ID_ATTRIBUTE = "smartcity.request_id"


def find_request(directory: Path, request_id: str) -> str | None:
    """The trace id of the request the gateway answered with this `X-Request-Id`, if stored."""
    needle = orjson.dumps(request_id)
    for record in _iter_records(Path(directory), needle=needle):
        if record.attributes.get(REQUEST_ID_ATTRIBUTE) == request_id:
            return record.trace_id
    return None


def load_trace(directory: Path, trace_id: str) -> list[SpanRecord]:
    """All stored spans of one trace, ordered by start time.

    Raises ValueError when ``trace_id`` is not 32 hex digits (case does not matter).
    """
    wanted = normalize_trace_id(trace_id)
    spans = [
        record
        for record in _iter_records(Path(directory), needle=wanted.encode())
        if record.trace_id == wanted
    ]
    spans.sort(key=lambda span: (span.start_ns, span.span_id))
    return spans


@dataclass(frozen=True)
class LogLine:
    """One JSON log line of a span: its time, level and event, and its other fields (without
    the trace and span ids, which place it)."""

    time: str
    level: str
    event: str
    fields: dict[str, object] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, object]:
        return {"time": self.time, "level": self.level, "event": self.event, **self.fields}

    def render(self) -> str:
        clock = self.time.partition("T")[2][:12] or self.time  # HH:MM:SS.mmm of the ISO time
        extra = " ".join(f"{key}={_field(value)}" for key, value in self.fields.items())
        return _clean(f"{clock} {self.level} {self.event} {extra}".rstrip())


# Placed by the span, or shown by it: not repeated under it.
_LOG_PLACEMENT = frozenset({"trace_id", "span_id", "time", "level", "event", "service"})


def _field(value: object) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() for c in value) else repr(value)
    return orjson.dumps(value, default=str).decode()


def load_logs(directory: Path, trace_id: str) -> dict[str, list[LogLine]]:
    """The log lines of one trace in ``directory/*.log``, by span id, each span's in time order.

    Lines that are not JSON (the NATS server's) or name no span are skipped. Raises ValueError
    for a malformed trace id, like ``load_trace``.
    """
    wanted = normalize_trace_id(trace_id)
    needle = wanted.encode()
    found: dict[str, list[LogLine]] = defaultdict(list)
    directory = Path(directory)
    files = sorted(directory.glob("*.log")) if directory.is_dir() else []
    for path in files:
        try:
            with path.open("rb") as handle:
                for raw in handle:
                    if needle not in raw:
                        continue
                    try:
                        data = orjson.loads(raw)
                    except ValueError:
                        continue
                    if not isinstance(data, dict) or data.get("trace_id") != wanted:
                        continue
                    span_id = data.get("span_id")
                    if not isinstance(span_id, str):
                        continue
                    found[span_id].append(
                        LogLine(
                            time=str(data.get("time", "")),
                            level=str(data.get("level", "")),
                            event=str(data.get("event", "")),
                            fields={k: v for k, v in data.items() if k not in _LOG_PLACEMENT},
                        )
                    )
        except OSError:
            continue
    for lines in found.values():
        lines.sort(key=lambda line: line.time)
    return dict(found)


def recent_traces(
    directory: Path, *, limit: int = 20, only_errors: bool = False
) -> list[TraceSummary]:
    """The most recent traces of the store, newest first, summarised by their root span."""
    if limit <= 0:
        return []
    by_trace: dict[str, list[SpanRecord]] = defaultdict(list)
    for record in _iter_records(Path(directory)):
        by_trace[record.trace_id].append(record)

    summaries: list[TraceSummary] = []
    for trace_id, spans in by_trace.items():
        has_error = any(span.is_error for span in spans)
        if only_errors and not has_error:
            continue
        ids = {span.span_id for span in spans}
        true_roots = [span for span in spans if span.parent_span_id is None]
        candidates = true_roots or [span for span in spans if span.parent_span_id not in ids]
        # A parent cycle (corrupt data) leaves no candidate; fall back to the earliest span.
        root = min(candidates or spans, key=lambda span: span.start_ns)
        start = min(span.start_ns for span in spans)
        end = max(span.end_ns for span in spans)
        summaries.append(
            TraceSummary(
                trace_id=trace_id,
                root_name=root.name,
                service=root.service,
                start_ns=start,
                duration_ms=max(end - start, 0) / 1e6,
                span_count=len(spans),
                has_error=has_error,
                root_missing=not true_roots,
            )
        )
    summaries.sort(key=lambda summary: summary.start_ns, reverse=True)
    return summaries[:limit]


# --------------------------------------------------------------------------------------------
# Rendering


def _clean(text: str) -> str:
    return _CONTROL_RE.sub(" ", text)


def _ms(nanoseconds: float) -> str:
    return f"{nanoseconds / 1e6:.1f} ms"


FAULT_ATTRIBUTE = "smartcity.fault.injected"


def render_tree(  # noqa: C901 (one pass that lays out the tree, its logs interleaved)
    spans: list[SpanRecord], *, logs: Mapping[str, Sequence[LogLine]] | None = None
) -> str:
    """One trace as a tree of spans, children under their parent, siblings by start time, and
    under each span its log lines when ``logs`` (by span id) is given.

    Spans whose parent is not in ``spans`` (not flushed yet, or in a deleted file) are shown as
    further roots marked ``(parent missing)``. A span with an injected fault (runtime.faults)
    says so.
    """
    if not spans:
        return "(no spans)"
    unique: dict[str, SpanRecord] = {}
    for span in spans:
        unique.setdefault(span.span_id, span)
    ordered = sorted(unique.values(), key=lambda span: (span.start_ns, span.span_id))

    trace_start = ordered[0].start_ns
    trace_end = max(span.end_ns for span in ordered)
    services = {span.service for span in ordered}
    header = (
        f"trace {ordered[0].trace_id}  {len(ordered)} spans  {len(services)} services  "
        f"{_ms(max(trace_end - trace_start, 0))}"
    )

    children: dict[str, list[SpanRecord]] = defaultdict(list)
    roots: list[SpanRecord] = []
    for span in ordered:
        if span.parent_span_id is not None and span.parent_span_id in unique:
            children[span.parent_span_id].append(span)
        else:
            roots.append(span)

    rows: list[tuple[str, SpanRecord, str, str]] = []  # (tree prefix, span, marker, indent)
    visited: set[str] = set()

    def walk(root: SpanRecord, marker: str) -> None:
        # Iterative: a deep trace must not hit the recursion limit.
        stack: list[tuple[SpanRecord, str, str]] = [(root, "", "")]
        while stack:
            span, branch, indent = stack.pop()
            if span.span_id in visited:
                continue
            visited.add(span.span_id)
            kids = children.get(span.span_id, [])
            below = indent + ("│  " if kids else "   ")
            rows.append((branch, span, marker if span is root else "", below))
            for position, kid in reversed(list(enumerate(kids))):
                last = position == len(kids) - 1
                stack.append(
                    (kid, indent + ("└─ " if last else "├─ "), indent + ("   " if last else "│  "))
                )

    for root in roots:
        walk(root, "" if root.parent_span_id is None else "  (parent missing)")
    # Only a parent cycle in corrupt data leaves spans unreached; show them rather than drop them.
    for span in ordered:
        if span.span_id not in visited:
            walk(span, "  (parent cycle)")

    labels = [f"{branch}{_clean(span.service)}  {_clean(span.name)}" for branch, span, _, _ in rows]
    width = max(len(label) for label in labels)
    durations = [_ms(span.end_ns - span.start_ns) for _, span, _, _ in rows]
    duration_width = max(len(text) for text in durations)
    lines = [header]
    for label, duration, (_, span, marker, below) in zip(labels, durations, rows, strict=True):
        if span.is_error:
            status = "ERROR: " + _clean(span.status_description or "(no description)")
        else:
            status = "ok"
        offset = "+" + _ms(span.start_ns - trace_start)
        fault = span.attributes.get(FAULT_ATTRIBUTE)
        if fault is not None:
            marker += f"  [fault injected: {_clean(str(fault))}]"
        lines.append(
            f"{label.ljust(width)}  {duration.rjust(duration_width)}  {status}  {offset}{marker}"
        )
        if logs is not None:
            lines.extend(f"{below}  · {line.render()}" for line in logs.get(span.span_id, ()))
    return "\n".join(lines)
