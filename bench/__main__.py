"""CLI: ``python -m bench`` — the catalog GET through the gateway against two baselines.

Targets are started once and measured interleaved (bare, hop, real) per round, with the
same load tool, so machine noise hits all three alike; medians over rounds are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import signal
import statistics
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, NoReturn, Protocol

import orjson

from bench.loadtool import LoadResult, LoadTool, choose_tool, run_load
from bench.targets import (
    ROOT,
    BareTarget,
    Endpoint,
    HopTarget,
    RealTarget,
    TargetError,
    http,
    synthetic_body,
)

ORDER = ("bare", "hop", "real")
TARGET_RATIO = 0.40  # the goal: real >= 40% of hop (requests/s)
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "latest.json"


class Target(Protocol):
    name: str

    def start(self) -> None: ...
    def endpoint(self) -> Endpoint: ...
    def stop(self) -> None: ...


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(ORDER),
        help="comma-separated targets to run, from bare,hop,real (default: all)",
    )
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per run (0: none)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (-t)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the triple; report medians")
    parser.add_argument(
        "--tool", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get install wrk when missing"
    )
    parser.add_argument(
        "--body-file",
        type=Path,
        help="JSON body for the baselines when 'real' is not run (default: a synthetic one)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=90.0, help="seconds to wait for /readyz"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON path")
    args = parser.parse_args(argv)
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = sorted(set(only) - set(ORDER))
    if unknown or not only:
        parser.error(f"--only: unknown or empty target list {unknown or only}")
    args.targets = [t for t in ORDER if t in only]
    for name in ("duration", "connections", "threads", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    return args


def _raise_interrupt(_signum: int, _frame: types.FrameType | None) -> NoReturn:
    # SIGTERM takes the same path as Ctrl-C, so the finally blocks stop every child.
    raise KeyboardInterrupt


def _measure(tool: LoadTool, target: Target, args: argparse.Namespace) -> LoadResult:
    ep = target.endpoint()
    # One exact-2xx check first: wrk counts only >= 400 as errors, and a run of 401s or
    # redirects would be meaningless.
    probe = http("GET", ep.url, headers=ep.headers)
    if not 200 <= probe.status < 300:
        raise TargetError(f"{target.name}: GET {ep.url} -> HTTP {probe.status}, not 2xx")
    if args.warmup > 0:
        warm = run_load(
            tool,
            ep.url,
            ep.headers,
            duration_s=args.warmup,
            connections=args.connections,
            threads=args.threads,
        )
        if warm.errors:
            print(f"bench: {target.name}: {warm.errors} errors during warm-up", file=sys.stderr)
    return run_load(
        tool,
        ep.url,
        ep.headers,
        duration_s=args.duration,
        connections=args.connections,
        threads=args.threads,
    )


def _median(results: list[LoadResult]) -> dict[str, Any]:
    return {
        "rps": statistics.median(r.rps for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "errors": sum(r.errors for r in results),
        "non2xx": sum(r.non2xx for r in results),
        "socket_errors": sum(r.socket_errors for r in results),
        "requests": sum(r.requests for r in results),
        "rounds": len(results),
    }


def _ratios(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for num, den in (("real", "hop"), ("real", "bare"), ("hop", "bare")):
        if num in summary and den in summary and summary[den]["rps"] > 0:
            ratios[f"{num}/{den}"] = summary[num]["rps"] / summary[den]["rps"]
    return ratios


def _report(
    tool: LoadTool,
    args: argparse.Namespace,
    body_note: str,
    summary: dict[str, dict[str, Any]],
    ratios: dict[str, float],
) -> str | None:
    print()
    print(
        f"load tool: {tool.describe()}; {args.connections} connections, "
        f"{args.warmup}s warm-up + {args.duration}s measured, {args.rounds} round(s)"
    )
    print(f"body: {body_note}")
    print()
    print(f"{'target':<8}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'errors':>10}")
    for name, s in summary.items():
        print(
            f"{name:<8}{s['rps']:>12.1f}{s['p50_ms']:>10.2f}{s['p99_ms']:>10.2f}{s['errors']:>10d}"
        )
    if ratios:
        print()
        print("ratios (requests/s):")
        for key, value in ratios.items():
            print(f"  {key:<10}{value * 100:>7.1f}%")
    verdict = None
    if "real/hop" in ratios:
        verdict = "PASS" if ratios["real/hop"] >= TARGET_RATIO else "FAIL"
        invalid = summary["real"]["errors"] or summary["hop"]["errors"]
        note = " (NOT valid: errors occurred)" if invalid else ""
        print(f"target: real >= {TARGET_RATIO:.0%} of hop -> {verdict}{note}")
    errors = {n: s for n, s in summary.items() if s["errors"]}
    if errors:
        print()
        print("!" * 72)
        for name, s in errors.items():
            print(
                f"!! ERRORS: {name}: {s['non2xx']} non-2xx responses, "
                f"{s['socket_errors']} socket errors — its numbers are NOT valid"
            )
        print("!" * 72)
    return verdict


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")


def run(args: argparse.Namespace) -> int:
    tool = choose_tool(args.tool, allow_install=not args.no_install)
    print(f"bench: load tool: {tool.describe()}", file=sys.stderr)
    results: dict[str, list[LoadResult]] = {name: [] for name in args.targets}
    started: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="smartcity-bench-") as tmp:
        workdir = Path(tmp)
        try:
            targets: dict[str, Target] = {}
            content_type = "application/json"
            if "real" in args.targets:
                print("bench: starting the real platform (runtime.cli up)", file=sys.stderr)
                real = RealTarget(workdir, args.ready_timeout)
                started.append(real)
                real.start()
                reply = real.fetch_body()
                body = reply.body
                content_type = reply.headers.get("Content-Type", content_type)
                body_note = f"{len(body)} bytes, copied from the real gateway ({content_type})"
                targets["real"] = real
            elif args.body_file is not None:
                body = args.body_file.read_bytes()
                body_note = f"{len(body)} bytes, from {args.body_file}"
            else:
                body = synthetic_body()
                body_note = f"{len(body)} bytes, synthetic (no real gateway in this run)"
            body_file = workdir / "body.json"
            body_file.write_bytes(body)
            for name, cls in (("bare", BareTarget), ("hop", HopTarget)):
                if name in args.targets:
                    target: Target = cls(workdir, body_file, content_type)
                    started.append(target)
                    target.start()
                    targets[name] = target

            for rnd in range(1, args.rounds + 1):
                for name in args.targets:
                    res = _measure(tool, targets[name], args)
                    results[name].append(res)
                    flag = f"  ERRORS: {res.errors}" if res.errors else ""
                    print(
                        f"bench: round {rnd}/{args.rounds} {name:<4} {res.rps:10.1f} req/s  "
                        f"p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms{flag}",
                        file=sys.stderr,
                    )
        except TargetError as exc:
            print(f"bench: FAILED: {exc}", file=sys.stderr)
            return 2
        finally:
            for target in reversed(started):
                try:
                    target.stop()
                except Exception as exc:  # keep stopping the others
                    print(f"bench: stopping {target.name}: {exc}", file=sys.stderr)

    summary = {name: _median(rs) for name, rs in results.items()}
    ratios = _ratios(summary)
    verdict = _report(tool, args, body_note, summary, ratios)
    payload = {
        "benchmark": "catalog GET /office/v1/catalog/resources/<id> vs bare and hop baselines",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "tool": {"kind": tool.kind, "version": tool.version},
        "config": {
            "targets": args.targets,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "rounds": args.rounds,
        },
        "body": {"bytes": len(body), "source": body_note},
        "runs": {name: [r.to_json() for r in rs] for name, rs in results.items()},
        "median": summary,
        "ratios": ratios,
        "target": {"rule": f"real >= {TARGET_RATIO:.0%} of hop", "verdict": verdict},
    }
    _write_json(args.output, payload)
    print(f"\nresults: {args.output}")
    # Only errors fail the run: the ratio target is informative.
    return 1 if any(s["errors"] for s in summary.values()) else 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
