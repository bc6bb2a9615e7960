"""Scenario ``gateway``: the catalog GET through the gateway against two baselines.

Targets are started once and measured interleaved (bare, hop, real) per round, with the
same load tool, so machine noise hits all three alike; medians over rounds are reported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Protocol

from bench.loadtool import LoadResult, LoadTool
from bench.runner import (
    EXIT_LOAD_ERRORS,
    EXIT_OK,
    EXIT_TARGET_FAILED,
    LoadSettings,
    Outcome,
    cpu_median,
    cpu_seconds,
    error_banner,
    measured_run,
    median,
    warm_up,
)
from bench.targets import (
    BareTarget,
    Endpoint,
    HopTarget,
    RealTarget,
    TargetError,
    synthetic_body,
)

ORDER = ("bare", "hop", "real")
TARGET_RATIO = 0.40  # the goal: real >= 40% of hop (requests/s)
DEFAULT_ROUNDS = 1


class Target(Protocol):
    name: str

    def start(self) -> None: ...
    def endpoint(self) -> Endpoint: ...
    def pids(self) -> dict[str, int]: ...
    def stop(self) -> None: ...


def _measure(
    tool: LoadTool, name: str, target: Target, load: LoadSettings
) -> tuple[LoadResult, dict[str, float]]:
    """Probe, warm up, then the measured run, with the CPU time the target's processes spent
    during it in microseconds per request (and their sum as ``all``)."""
    ep = target.endpoint()
    warm_up(tool, name, ep, load)
    pids = target.pids()
    before = {proc: cpu_seconds(pid) for proc, pid in pids.items()}
    res = measured_run(tool, ep, load)
    cpu: dict[str, float] = {}
    for proc, start in before.items():
        end = cpu_seconds(pids[proc])
        if start is not None and end is not None and res.requests > 0:
            cpu[proc] = (end - start) / res.requests * 1e6
    if cpu and len(cpu) == len(pids):
        cpu["all"] = sum(cpu.values())
    return res, cpu


def _ratios(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for num, den in (("real", "hop"), ("real", "bare"), ("hop", "bare")):
        if num in summary and den in summary and summary[den]["rps"] > 0:
            ratios[f"{num}/{den}"] = summary[num]["rps"] / summary[den]["rps"]
    return ratios


def _report(
    tool: LoadTool,
    load: LoadSettings,
    rounds: int,
    body_note: str,
    summary: dict[str, dict[str, Any]],
    ratios: dict[str, float],
    cpu: dict[str, dict[str, float]],
) -> str | None:
    print()
    print("== gateway: GET /office/v1/catalog/resources/<id> against bare and hop ==")
    print(f"load tool: {tool.describe()}; {load.describe()}, {rounds} round(s)")
    print(f"body: {body_note}")
    print()
    print(f"{'target':<8}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'errors':>10}")
    for name, s in summary.items():
        print(
            f"{name:<8}{s['rps']:>12.1f}{s['p50_ms']:>10.2f}{s['p99_ms']:>10.2f}{s['errors']:>10d}"
        )
    if any(cpu.values()):
        print()
        print("CPU time per request, medians (µs; /proc/<pid>/stat around each measured run):")
        for name, used in cpu.items():
            parts = ", ".join(f"{proc} {us:.0f}" for proc, us in used.items() if proc != "all")
            if "all" in used:
                print(f"  {name:<6}{used['all']:>7.0f}  ({parts})")
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
    error_banner(summary)
    return verdict


def run(
    tool: LoadTool,
    load: LoadSettings,
    *,
    workdir: Path,
    targets_wanted: list[str],
    rounds: int,
    ready_timeout: float,
    body_file_arg: Path | None,
    logs_dest: Path,
) -> Outcome:
    results: dict[str, list[LoadResult]] = {name: [] for name in targets_wanted}
    cpus: dict[str, list[dict[str, float]]] = {name: [] for name in targets_wanted}
    started: list[Target] = []
    body = b""
    body_note = ""
    real: RealTarget | None = None
    try:
        targets: dict[str, Target] = {}
        content_type = "application/json"
        if "real" in targets_wanted:
            print("bench: starting the real platform (runtime.cli up)", file=sys.stderr)
            real = RealTarget(workdir, ready_timeout)
            started.append(real)
            real.start()
            reply = real.fetch_body()
            body = reply.body
            content_type = reply.headers.get("Content-Type", content_type)
            body_note = f"{len(body)} bytes, copied from the real gateway ({content_type})"
            targets["real"] = real
        elif body_file_arg is not None:
            body = body_file_arg.read_bytes()
            body_note = f"{len(body)} bytes, from {body_file_arg}"
        else:
            body = synthetic_body()
            body_note = f"{len(body)} bytes, synthetic (no real gateway in this run)"
        body_file = workdir / "body.json"
        body_file.write_bytes(body)
        for name, cls in (("bare", BareTarget), ("hop", HopTarget)):
            if name in targets_wanted:
                target: Target = cls(workdir, body_file, content_type)
                started.append(target)
                target.start()
                targets[name] = target

        for rnd in range(1, rounds + 1):
            for name in targets_wanted:
                res, used = _measure(tool, name, targets[name], load)
                results[name].append(res)
                cpus[name].append(used)
                flag = f"  ERRORS: {res.errors}" if res.errors else ""
                cpu_note = f"  cpu µs/req {used['all']:.0f}" if "all" in used else ""
                print(
                    f"bench: gateway round {rnd}/{rounds} {name:<4} {res.rps:10.1f} req/s  "
                    f"p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms{cpu_note}{flag}",
                    file=sys.stderr,
                )
    except TargetError as exc:
        print(f"bench: gateway FAILED: {exc}", file=sys.stderr)
        if real is not None:
            saved = real.platform.save_logs(logs_dest)
            print(f"bench: the platform's logs are in {saved}", file=sys.stderr)
        return Outcome({"error": str(exc)}, EXIT_TARGET_FAILED)
    finally:
        for started_target in reversed(started):
            try:
                started_target.stop()
            except Exception as exc:  # keep stopping the others
                print(f"bench: stopping {started_target.name}: {exc}", file=sys.stderr)

    summary = {name: median(rs) for name, rs in results.items()}
    cpu = {name: cpu_median(cs) for name, cs in cpus.items()}
    ratios = _ratios(summary)
    verdict = _report(tool, load, rounds, body_note, summary, ratios, cpu)
    payload = {
        "benchmark": "catalog GET /office/v1/catalog/resources/<id> vs bare and hop baselines",
        "config": {**load.to_json(), "targets": targets_wanted, "rounds": rounds},
        "body": {"bytes": len(body), "source": body_note},
        "runs": {
            name: [
                {**r.to_json(), "cpu_us_per_request": c}
                for r, c in zip(rs, cpus[name], strict=True)
            ]
            for name, rs in results.items()
        },
        "median": summary,
        "cpu_us_per_request": cpu,
        "ratios": ratios,
        "target": {"rule": f"real >= {TARGET_RATIO:.0%} of hop", "verdict": verdict},
    }
    # Only errors fail the run: the ratio target is informative.
    failed = any(s["errors"] for s in summary.values())
    return Outcome(payload, EXIT_LOAD_ERRORS if failed else EXIT_OK, _headline(ratios, cpu))


def _headline(ratios: dict[str, float], cpu: dict[str, dict[str, float]]) -> str:
    shown = ", ".join(f"{k} {v * 100:.1f}%" for k, v in ratios.items())
    used = ", ".join(f"{name} {c['all']:.0f}" for name, c in cpu.items() if "all" in c)
    return f"{shown or 'no ratio (one target)'}; CPU µs/request {used or '-'}"
