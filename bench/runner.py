"""What every scenario shares: the load settings, one measurement (probe, warm-up, run), medians,
the loud error banner, the scenario's outcome, and the smoke run.

The smoke run (``python -m bench --smoke``) is every scenario end to end on tiny data and short
runs, on one shared platform (:func:`bench.targets.shared_platform`), each under a time limit:
it proves that the scenarios still work (every request answered as expected, no errors) and
prints their ratios and CPU per operation, but its figures mean nothing and no target is judged.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import sys
import traceback
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadtool import LoadResult, LoadTool, run_load
from bench.targets import Endpoint, TargetError, http

# Exit statuses, worst last: a run's status is the worst of its scenarios'.
EXIT_OK = 0
EXIT_LOAD_ERRORS = 1
EXIT_TARGET_FAILED = 2


@dataclass(frozen=True)
class LoadSettings:
    """How each measured run is made."""

    duration_s: float
    warmup_s: float
    connections: int
    threads: int

    def describe(self) -> str:
        return (
            f"{self.connections} connections, {self.threads} thread(s), "
            f"{self.warmup_s:g}s warm-up + {self.duration_s:g}s measured"
        )

    def to_json(self) -> dict[str, float]:
        return {
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "connections": self.connections,
            "threads": self.threads,
        }


@dataclass
class Outcome:
    """A scenario's results (the JSON section), its exit status, and its headline: the ratio
    and the CPU per operation in one line (empty when it failed before measuring)."""

    payload: dict[str, Any]
    exit_status: int
    headline: str = ""


# --- the smoke run -------------------------------------------------------------------------------

# The options of a smoke run where none is given (by their argparse names): one round of short
# runs, a few connections, and each scenario's data just large enough for what it checks.
SMOKE_OPTIONS: dict[str, Any] = {
    "rounds": 1,
    "duration": 0.3,  # measured seconds per run (wrk rounds up to 1)
    "warmup": 0.0,
    "connections": 4,
    "login_connections": 2,
    "login_duration": 2,  # a login costs identity about 0.25 s of CPU: a few in 2 s, busy or not
    "keys_concurrency": 4,
    # The fewest generated resources in which every query of the mix matches something is 243.
    "catalog_resources": 300,
    "exchange_records": 20,
    "licences_count": 8,
    "licences_verifies": 32,
    "licences_concurrency": 4,
    "partners_licences": 8,
    "partners_changes": 32,
    "partners_concurrency": 4,
    "partners_backlog": 16,
    "partners_steady": 1.0,
    "partners_raw": 256,
}
# Each scenario of a smoke run takes 2 to 25 s here, the shared platform's start on top for the
# first: past this it is stopped and counted as failed. Longer than the platform's own wait for
# /readyz (--ready-timeout, 90 s), so that a platform that does not start fails as such, its logs
# kept.
SMOKE_TIME_LIMIT_S = 120.0


class ScenarioTimeout(KeyboardInterrupt):
    """A scenario ran past its time limit. A KeyboardInterrupt, so that event loops let it out
    as they let Ctrl-C out, and the finally blocks stop every child as on Ctrl-C."""


@contextlib.contextmanager
def scenario_guard(
    scenario: str, seconds: float | None, outcomes: dict[str, Outcome]
) -> Iterator[None]:
    """Run one scenario's block for at most ``seconds`` (None: no limit). Past the limit, or
    when the scenario raises (a bug: its traceback is printed), its outcome is a failure and the
    run goes on with the next scenario."""
    previous = None
    if seconds is not None:

        def expired(_signum: int, _frame: types.FrameType | None) -> None:
            raise ScenarioTimeout

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except ScenarioTimeout:
        message = f"{scenario}: no result within the time limit of {seconds:.0f} s"
        print(f"bench: {message}", file=sys.stderr)
        outcomes[scenario] = Outcome({"error": message}, EXIT_TARGET_FAILED)
    except Exception as exc:
        traceback.print_exc()
        message = f"{scenario}: {type(exc).__name__}: {exc}"
        print(f"bench: {message}", file=sys.stderr)
        outcomes[scenario] = Outcome({"error": message}, EXIT_TARGET_FAILED)
    finally:
        if seconds is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def print_summary(outcomes: Mapping[str, Outcome], seconds: Mapping[str, float]) -> None:
    """One line per scenario: ok or what failed, its time, and its headline."""
    print()
    print("summary:")
    for name, outcome in outcomes.items():
        status = {EXIT_OK: "ok", EXIT_LOAD_ERRORS: "ERRORS"}.get(outcome.exit_status, "FAILED")
        took = f"{seconds[name]:5.1f} s" if name in seconds else ""
        line = outcome.headline or str(outcome.payload.get("error", ""))[:200]
        print(f"  {name:<10}{status:<8}{took:>8}  {line}")


def probe(name: str, ep: Endpoint, expect_status: int | None = None) -> bytes:
    """One request that must answer exactly ``expect_status`` (or any 2xx): wrk counts only
    >= 400 as errors, and a run of 401s or redirects would be meaningless. Returns the body."""
    reply = http(ep.method, ep.url, headers=ep.headers, data=ep.body)
    ok = reply.status == expect_status if expect_status is not None else 200 <= reply.status < 300
    if not ok:
        wanted = expect_status if expect_status is not None else "2xx"
        raise TargetError(
            f"{name}: {ep.method} {ep.url} -> HTTP {reply.status}, not {wanted}: "
            f"{reply.body[:300]!r}"
        )
    return reply.body


def _load_kwargs(ep: Endpoint, load: LoadSettings, expect_status: int | None) -> dict[str, Any]:
    return {
        "connections": load.connections,
        "threads": load.threads,
        "method": ep.method,
        "body": ep.body,
        "expect_status": expect_status,
    }


def warm_up(
    tool: LoadTool,
    name: str,
    ep: Endpoint,
    load: LoadSettings,
    *,
    expect_status: int | None = None,
) -> None:
    """Probe once, then the warm-up run (discarded)."""
    probe(name, ep, expect_status)
    if load.warmup_s > 0:
        kwargs = _load_kwargs(ep, load, expect_status)
        warm = run_load(tool, ep.url, ep.headers, duration_s=load.warmup_s, **kwargs)
        if warm.errors:
            print(f"bench: {name}: {warm.errors} errors during warm-up", file=sys.stderr)


def measured_run(
    tool: LoadTool, ep: Endpoint, load: LoadSettings, *, expect_status: int | None = None
) -> LoadResult:
    kwargs = _load_kwargs(ep, load, expect_status)
    res = run_load(tool, ep.url, ep.headers, duration_s=load.duration_s, **kwargs)
    if res.requests == 0:  # no error counted, and nothing checked either
        raise TargetError(f"{ep.method} {ep.url}: no request completed in the run")
    return res


def measure(
    tool: LoadTool,
    name: str,
    ep: Endpoint,
    load: LoadSettings,
    *,
    expect_status: int | None = None,
) -> LoadResult:
    """Probe once, warm up (discarded), then the measured run."""
    warm_up(tool, name, ep, load, expect_status=expect_status)
    return measured_run(tool, ep, load, expect_status=expect_status)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all its threads (``/proc/<pid>/stat``); None when
    it cannot be read (no /proc, or the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: count the fields after its closing ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def median(results: list[LoadResult]) -> dict[str, Any]:
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


def error_banner(summary: Mapping[str, Mapping[str, Any]], what: str = "non-2xx responses") -> None:
    """Print every target with errors, loudly: its numbers are not valid."""
    errors = {n: s for n, s in summary.items() if s["errors"]}
    if not errors:
        return
    print()
    print("!" * 72)
    for name, s in errors.items():
        print(
            f"!! ERRORS: {name}: {s['non2xx']} {what}, "
            f"{s['socket_errors']} socket errors — its numbers are NOT valid"
        )
    print("!" * 72)


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def cpu_median(cpus: list[dict[str, float]]) -> dict[str, float]:
    """The median CPU figure of each process measured in every run."""
    keys = [k for k in cpus[0] if all(k in c for c in cpus)] if cpus else []
    return {k: statistics.median(c[k] for c in cpus) for k in keys}


def bracketed_ratios(baseline: list[float], measured: list[float]) -> list[float]:
    """Each measured rate over the mean of the baseline rates before and after it (there is one
    more baseline run than measured ones: B M B M ... B): a linear drift cancels."""
    if len(baseline) != len(measured) + 1:
        raise ValueError("B M B M ... B: one more baseline run than measured ones")
    ratios = []
    for i, rate in enumerate(measured):
        around = (baseline[i] + baseline[i + 1]) / 2.0
        ratios.append(rate / around if around > 0 else 0.0)
    return ratios


def platform_failed(
    scenario: str, platform: Any, exc: Exception, logs_dest: Any, **extra: Any
) -> Outcome:
    """A scenario's set-up or run failed: say so, keep the platform's logs, and fail."""
    print(f"bench: {scenario} FAILED: {exc}", file=sys.stderr)
    saved = platform.save_logs(logs_dest)
    print(f"bench: the platform's logs are in {saved}", file=sys.stderr)
    return Outcome({"error": str(exc), **extra}, EXIT_TARGET_FAILED)


def stop_quietly(*targets: Any) -> None:
    """Stop every target given (None skipped), reporting rather than raising a failure, so that
    one target's failure does not leave the others running."""
    for target in targets:
        if target is None:
            continue
        try:
            target.stop()
        except Exception as exc:
            print(f"bench: stopping {getattr(target, 'name', target)}: {exc}", file=sys.stderr)
