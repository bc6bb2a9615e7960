"""``smartcity trace``: print one trace from the local span store, or list the recent ones.

Spans live under ``<data dir>/traces`` (see ``runtime.spanstore``); the data directory is
``--data-dir``, else ``$SMARTCITY_DATA_DIR``, else ``./var``, the same default the services use
(``runtime.command_line``). Nothing is created there: the command only reads.
With ``--logs``, each span is followed by the log lines its process wrote in it (``DIR/logs``,
matched by span id): ``smartcity trace --recent 5 --errors --logs`` shows the last failing
requests with what every hop said.
Exit status: 0 on success, 1 when the trace has no stored span, 2 on a usage error or a malformed
trace id.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import orjson

from runtime import command_line
from runtime.spanstore import find_request, load_logs, load_trace, recent_traces, render_tree

__all__ = ["build_parser", "run"]

_DEFAULT_RECENT = 20


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartcity trace",
        description=(
            "Print a trace from the local span store as a tree across all processes, "
            "or list the most recent traces when no TRACE_ID is given."
        ),
    )
    parser.add_argument(
        "trace_id", nargs="?", metavar="TRACE_ID", help="32 hex digits, e.g. from a log line"
    )
    command_line.add_data_dir(parser, holds="spans are in DIR/traces, logs in DIR/logs")
    parser.add_argument(
        "--recent",
        type=_positive_int,
        metavar="N",
        help=f"list the N most recent traces (default {_DEFAULT_RECENT})",
    )
    parser.add_argument(
        "--request-id",
        metavar="ID",
        help="show the trace of the request the gateway answered with this X-Request-Id",
    )
    parser.add_argument("--errors", action="store_true", help="list only traces with an error")
    parser.add_argument(
        "--logs",
        action="store_true",
        help="under each span, its log lines (from DIR/logs); with --recent, every listed "
        "trace's tree",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    return parser


_T = TypeVar("_T")
# Processes flush their spans every second: a request just answered may not be on disk yet.
FLUSH_WAIT_SECONDS = 3.0


def _after_flush(load: Callable[[], _T]) -> _T:
    """What `load` finds, asked again for a few seconds while it finds nothing."""
    deadline = time.monotonic() + FLUSH_WAIT_SECONDS
    found = load()
    while not found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = load()
    return found


def _iso(start_ns: int) -> str:
    return datetime.fromtimestamp(start_ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")


def _show_trace(
    traces_dir: Path, trace_id: str, *, as_json: bool, logs_dir: Path | None = None
) -> int:
    try:
        spans = _after_flush(lambda: load_trace(traces_dir, trace_id))
    except ValueError as exc:
        print(f"smartcity trace: {exc}", file=sys.stderr)
        return 2
    if not spans:
        print(
            f"smartcity trace: no spans for trace {trace_id} under {traces_dir}; "
            "spans are flushed every second, try again",
            file=sys.stderr,
        )
        return 1
    logs = load_logs(logs_dir, trace_id) if logs_dir is not None else None
    if as_json:
        for span in spans:
            record = span.to_dict()
            if logs is not None:
                record["logs"] = [line.to_dict() for line in logs.get(span.span_id, ())]
            print(orjson.dumps(record).decode())
    else:
        print(render_tree(spans, logs=logs))
    return 0


def _list_recent(
    traces_dir: Path,
    *,
    limit: int,
    only_errors: bool,
    as_json: bool,
    logs_dir: Path | None = None,
) -> int:
    summaries = recent_traces(traces_dir, limit=limit, only_errors=only_errors)
    if not summaries:
        kind = "failing traces" if only_errors else "traces"
        hint = "" if traces_dir.is_dir() else f" ({command_line.NOT_RUNNING_HINT})"
        print(f"smartcity trace: no {kind} under {traces_dir}{hint}", file=sys.stderr)
        return 0
    if logs_dir is not None:  # each trace in full, newest first
        for position, summary in enumerate(summaries):
            if position and not as_json:
                print()
            _show_trace(traces_dir, summary.trace_id, as_json=as_json, logs_dir=logs_dir)
        return 0
    for summary in summaries:
        if as_json:
            print(orjson.dumps(summary.to_dict()).decode())
            continue
        marker = "  ERROR" if summary.has_error else ""
        missing = "  (root missing)" if summary.root_missing else ""
        print(
            f"{summary.trace_id}  {_iso(summary.start_ns)}  {summary.service} "
            f"{summary.root_name}  {summary.duration_ms:.1f} ms{marker}{missing}"
        )
    return 0


def run(argv: list[str]) -> int:
    """Run ``smartcity trace`` with the arguments after the subcommand; returns the exit status."""
    parser = build_parser()
    args = command_line.parse(parser, argv)
    if isinstance(args, int):  # argparse answered --help (0) or a usage error (2)
        return args
    data_dir = command_line.data_dir(args.data_dir)
    traces_dir = data_dir / "traces"
    logs_dir = data_dir / "logs" if args.logs else None
    if args.request_id is not None:
        if args.trace_id is not None:
            print("smartcity trace: give a TRACE_ID or --request-id, not both", file=sys.stderr)
            return 2
        found = _after_flush(lambda: find_request(traces_dir, args.request_id))
        if found is None:
            print(
                f"smartcity trace: no request {args.request_id!r} under {traces_dir}",
                file=sys.stderr,
            )
            return 1
        return _show_trace(traces_dir, found, as_json=args.json, logs_dir=logs_dir)
    if args.trace_id is not None:
        if args.recent is not None or args.errors:
            print(
                "smartcity trace: --recent and --errors only apply without a TRACE_ID",
                file=sys.stderr,
            )
            return 2
        return _show_trace(traces_dir, args.trace_id, as_json=args.json, logs_dir=logs_dir)
    return _list_recent(
        traces_dir,
        limit=args.recent or _DEFAULT_RECENT,
        only_errors=args.errors,
        as_json=args.json,
        logs_dir=logs_dir,
    )
