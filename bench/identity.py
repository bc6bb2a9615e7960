"""Scenario ``identity``: what authentication costs through the gateway, and the login rate.

1. The same identity RPC (``ListDepartments``, a cheap read) behind two routes of one gateway:
   ``GET /public/v1/departments`` (anonymous) and ``GET /office/v1/departments`` (a staff
   access token, verified by the gateway, forwarded, and verified again by identity). Runs
   alternate A B A B ... A (anonymous, authenticated, ..., one more anonymous at the end) with
   the same load; each authenticated run is compared with the mean of the anonymous runs just
   before and after it, so a drift of the machine's speed during the run cancels out. Each
   authenticated run gets a fresh staff token first (tokens live 300 s). The ratio
   authenticated/anonymous is the median of these per-round ratios.
2. ``POST /public/v1/login`` for ``demo.citizen`` (argon2id, slow on purpose) with a few
   connections: logins/s and latency, and logins/s as a share of the anonymous rate. Every
   answer other than 200 is counted; the platform runs with the login rate limits relaxed, so
   any 429 here means a misconfiguration.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.loadtool import LoadResult, LoadTool
from bench.runner import (
    EXIT_LOAD_ERRORS,
    EXIT_OK,
    LoadSettings,
    Outcome,
    bracketed_ratios,
    cpu_median,
    cpu_seconds,
    error_banner,
    measured_run,
    median,
    pct,
    platform_failed,
    probe,
    stop_quietly,
    warm_up,
)
from bench.targets import (
    DEMO_PASSWORD,
    RELAXED_LOGIN_LIMITS,
    Endpoint,
    TargetError,
    http,
    platform_for,
)

ANONYMOUS_PATH = "/public/v1/departments"
AUTHENTICATED_PATH = "/office/v1/departments"
LOGIN_PATH = "/public/v1/login"
LOGIN_ACCOUNT = "demo.citizen"
TARGET_RATIO = 0.80  # the goal: authenticated >= 80% of anonymous (requests/s)
DEFAULT_ROUNDS = 3
# The processes whose CPU time per request is reported: less noisy than requests/s on a shared
# machine, and it says where an authenticated request spends more.
CPU_PROCESSES = ("gateway", "identity")


def _check_routes(base: str, token_headers: dict[str, str]) -> dict[str, Any]:
    """Both routes answer the same body, and the office one really wants a token."""
    anonymous = probe("anonymous", Endpoint(base + ANONYMOUS_PATH))
    authenticated = probe("authenticated", Endpoint(base + AUTHENTICATED_PATH, token_headers))
    refused = http("GET", base + AUTHENTICATED_PATH)
    if refused.status != 401:
        raise TargetError(
            f"GET {AUTHENTICATED_PATH} without a token -> HTTP {refused.status}, not 401: "
            "the comparison would not include authentication"
        )
    same = orjson.loads(anonymous) == orjson.loads(authenticated)
    if not same:
        print(
            "bench: identity: the two routes answer different bodies "
            f"({len(anonymous)} and {len(authenticated)} bytes)",
            file=sys.stderr,
        )
    return {"bytes": len(anonymous), "same_body": same}


def _run(
    tool: LoadTool,
    name: str,
    ep: Endpoint,
    load: LoadSettings,
    pids: dict[str, int],
    *,
    expect_status: int | None = None,
) -> tuple[LoadResult, dict[str, float]]:
    """Probe, warm up, then the measured run, with the CPU time the platform's processes spent
    during it, in microseconds per request (empty where /proc cannot be read)."""
    warm_up(tool, name, ep, load, expect_status=expect_status)
    before = {p: cpu_seconds(pids[p]) for p in CPU_PROCESSES if p in pids}
    res = measured_run(tool, ep, load, expect_status=expect_status)
    cpu: dict[str, float] = {}
    for proc, start in before.items():
        end = cpu_seconds(pids[proc])
        if start is not None and end is not None and res.requests > 0:
            cpu[proc] = (end - start) / res.requests * 1e6
    if len(cpu) == len(CPU_PROCESSES):
        cpu["both"] = sum(cpu[p] for p in CPU_PROCESSES)
    return res, cpu


def _login_endpoint(base: str) -> Endpoint:
    body = orjson.dumps({"username": LOGIN_ACCOUNT, "password": DEMO_PASSWORD})
    return Endpoint(
        base + LOGIN_PATH, {"Content-Type": "application/json"}, method="POST", body=body
    )


def _report(
    tool: LoadTool,
    load: LoadSettings,
    login_load: LoadSettings,
    runs: dict[str, list[LoadResult]],
    users: list[str],
    summary: dict[str, dict[str, Any]],
    cpu: dict[str, dict[str, float]],
    ratios: dict[str, Any],
    verdict: str,
) -> None:
    anonymous, authenticated, login = runs["anonymous"], runs["authenticated"], runs["login"][0]
    print()
    print(
        f"== identity: GET {AUTHENTICATED_PATH} (staff token) vs GET {ANONYMOUS_PATH} "
        "(anonymous) =="
    )
    print(
        f"load tool: {tool.describe()}; {load.describe()}; {len(authenticated)} round(s): "
        "A B A B ... A (anonymous, authenticated), a fresh staff token before each B"
    )
    print("auth/anon: each authenticated run over the mean of the anonymous runs around it")
    print()
    print(f"{'round':<8}{'anonymous':>12}{'authenticated':>15}{'auth/anon':>11}  token of")
    for i, (a, b) in enumerate(zip(anonymous, authenticated, strict=False), start=1):
        ratio = ratios["per_round"][i - 1]
        print(f"{i:<8}{a.rps:>12.1f}{b.rps:>15.1f}{pct(ratio):>11}  {users[i - 1]}")
    print(f"{'end':<8}{anonymous[-1].rps:>12.1f}")
    anon, auth = summary["anonymous"], summary["authenticated"]
    print(f"{'median':<8}{anon['rps']:>12.1f}{auth['rps']:>15.1f}")
    print(f"{'p50 ms':<8}{anon['p50_ms']:>12.2f}{auth['p50_ms']:>15.2f}")
    print(f"{'p99 ms':<8}{anon['p99_ms']:>12.2f}{auth['p99_ms']:>15.2f}")
    print(f"{'errors':<8}{anon['errors']:>12d}{auth['errors']:>15d}")
    if cpu["anonymous"] and cpu["authenticated"]:
        print()
        print("CPU time per request, medians (µs; /proc/<pid>/stat around each measured run):")
        print(f"{'process':<10}{'anonymous':>12}{'authenticated':>15}{'extra':>9}")
        for proc in (*CPU_PROCESSES, "both"):
            a_cpu, b_cpu = cpu["anonymous"].get(proc), cpu["authenticated"].get(proc)
            if a_cpu is not None and b_cpu is not None:
                print(f"{proc:<10}{a_cpu:>12.0f}{b_cpu:>15.0f}{b_cpu - a_cpu:>+9.0f}")
    print()
    print(
        f"authenticated/anonymous: {pct(ratios['authenticated/anonymous'])} (median of the "
        f"per-round ratios; of the median rates "
        f"{pct(ratios['authenticated/anonymous (medians)'])}"
        + (
            f"; by CPU per request {pct(ratios['authenticated/anonymous (cpu)'])})"
            if "authenticated/anonymous (cpu)" in ratios
            else ")"
        )
    )
    invalid = anon["errors"] or auth["errors"]
    note = " (NOT valid: errors occurred)" if invalid else ""
    print(f"target: authenticated >= {TARGET_RATIO:.0%} of anonymous -> {verdict}{note}")
    print()
    print(
        f"login: POST {LOGIN_PATH} ({LOGIN_ACCOUNT}, argon2id), {login_load.describe()}, "
        "login limits relaxed"
    )
    print(
        f"  {login.rps:.1f} logins/s  p50 {login.p50_ms:.1f} ms  p99 {login.p99_ms:.1f} ms  "
        f"({login.requests} logins; non-200 answers: {login.non2xx}, "
        f"socket errors: {login.socket_errors})"
    )
    if "identity" in cpu["login"]:
        print(f"  identity CPU per login: {cpu['login']['identity'] / 1000:.1f} ms")
    print(f"  login/anonymous: {ratios['login/anonymous'] * 100:.2f}% (requests/s)")
    error_banner({k: v for k, v in summary.items() if k != "login"}, what="answers >= 400 (wrk)")
    error_banner({"login": summary["login"]}, what="answers other than 200")


def run(
    tool: LoadTool,
    load: LoadSettings,
    *,
    workdir: Path,
    rounds: int,
    ready_timeout: float,
    login_connections: int,
    login_duration: int,
    logs_dest: Path,
) -> Outcome:
    login_load = LoadSettings(
        duration_s=login_duration,
        warmup_s=min(load.warmup_s, 2),
        connections=login_connections,
        threads=1,
    )
    # Relaxed login limits: with the defaults the login run would measure the limiter.
    platform = platform_for(
        workdir, ready_timeout, name="identity-platform", extra_env=RELAXED_LOGIN_LIMITS
    )
    runs: dict[str, list[LoadResult]] = {"anonymous": [], "authenticated": [], "login": []}
    cpus: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    users: list[str] = []

    # A B A B ... A, then the logins: 2 * rounds + 2 measured runs.
    plan = [*(["anonymous", "authenticated"] * rounds), "anonymous", "login"]

    def record(name: str, result: tuple[LoadResult, dict[str, float]]) -> None:
        res, cpu = result
        runs[name].append(res)
        cpus[name].append(cpu)
        done = sum(len(r) for r in runs.values())
        _progress(done, len(plan), name, res, cpu)

    try:
        print("bench: identity: starting the platform (runtime.cli up)", file=sys.stderr)
        platform.start()
        pids = platform.pids()
        listed = " ".join(f"{k}={v}" for k, v in sorted(pids.items()))
        print(f"bench: identity: platform up at {platform.base} ({listed})", file=sys.stderr)
        base = platform.base
        body = _check_routes(base, platform.logins.login().headers())
        for name in plan:
            if name == "anonymous":
                record(name, _run(tool, name, Endpoint(base + ANONYMOUS_PATH), load, pids))
            elif name == "authenticated":
                token = platform.logins.login()  # fresh before each authenticated run
                users.append(token.username)
                ep = Endpoint(base + AUTHENTICATED_PATH, token.headers())
                record(name, _run(tool, name, ep, load, pids))
            else:
                ep = _login_endpoint(base)
                record(name, _run(tool, name, ep, login_load, pids, expect_status=200))
    except TargetError as exc:
        return platform_failed("identity", platform, exc, logs_dest)
    finally:
        stop_quietly(platform)

    summary = {name: median(rs) for name, rs in runs.items()}
    cpu = {name: cpu_median(cs) for name, cs in cpus.items()}
    anonymous, authenticated = runs["anonymous"], runs["authenticated"]
    per_round = bracketed_ratios([r.rps for r in anonymous], [r.rps for r in authenticated])
    anon_rps = summary["anonymous"]["rps"]
    ratios: dict[str, Any] = {
        "per_round": per_round,
        "authenticated/anonymous": statistics.median(per_round),
        "authenticated/anonymous (medians)": (
            summary["authenticated"]["rps"] / anon_rps if anon_rps > 0 else 0.0
        ),
        "login/anonymous": summary["login"]["rps"] / anon_rps if anon_rps > 0 else 0.0,
    }
    if cpu["anonymous"].get("both") and cpu["authenticated"].get("both"):
        # What the throughput ratio would be if the two processes' CPU were all that counted.
        ratios["authenticated/anonymous (cpu)"] = (
            cpu["anonymous"]["both"] / cpu["authenticated"]["both"]
        )
    verdict = "PASS" if ratios["authenticated/anonymous"] >= TARGET_RATIO else "FAIL"
    _report(tool, load, login_load, runs, users, summary, cpu, ratios, verdict)
    payload = {
        "benchmark": (
            f"GET {AUTHENTICATED_PATH} (staff token) vs GET {ANONYMOUS_PATH} (anonymous), "
            f"alternating; POST {LOGIN_PATH} ({LOGIN_ACCOUNT})"
        ),
        "config": {**load.to_json(), "rounds": rounds, "login": login_load.to_json()},
        "body": body,
        "runs": {
            name: [
                {**r.to_json(), "cpu_us_per_request": c}
                | ({"token_of": users[i]} if name == "authenticated" else {})
                for i, (r, c) in enumerate(zip(rs, cpus[name], strict=True))
            ]
            for name, rs in runs.items()
        },
        "median": summary,
        "cpu_us_per_request": cpu,
        "ratios": ratios,
        "target": {"rule": f"authenticated >= {TARGET_RATIO:.0%} of anonymous", "verdict": verdict},
    }
    failed = any(s["errors"] for s in summary.values())
    both = {name: cpu[name].get("both") for name in ("anonymous", "authenticated")}
    used = ", ".join(f"{name} {us:.0f}" for name, us in both.items() if us is not None)
    headline = (
        f"authenticated/anonymous {pct(ratios['authenticated/anonymous'])}, "
        f"login/anonymous {pct(ratios['login/anonymous'])}; "
        f"CPU µs/request (gateway + identity) {used or '-'}"
    )
    return Outcome(payload, EXIT_LOAD_ERRORS if failed else EXIT_OK, headline)


def _progress(done: int, total: int, name: str, res: LoadResult, cpu: dict[str, float]) -> None:
    flag = f"  ERRORS: {res.errors}" if res.errors else ""
    cpu_note = "  cpu µs/req " + " ".join(f"{k} {v:.0f}" for k, v in cpu.items()) if cpu else ""
    print(
        f"bench: identity run {done}/{total} {name:<13} {res.rps:10.1f} req/s  "
        f"p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms{cpu_note}{flag}",
        file=sys.stderr,
    )
