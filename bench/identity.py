"""Scenario ``identity``: what authentication costs through the gateway, and the login rate.

1. The same identity RPC (``ListDepartments``, a cheap read) behind two routes of one gateway:
   ``GET /public/v1/departments`` (anonymous) and ``GET /office/v1/departments`` (a staff
   access token, verified by the gateway, forwarded, and verified again by identity). Rounds
   alternate anonymous, authenticated, anonymous, ... with the same load, so drift hits both;
   each authenticated round gets a fresh token first (tokens live 300 s). The ratio
   authenticated/anonymous is the median of the per-round ratios.
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
    EXIT_TARGET_FAILED,
    LoadSettings,
    Outcome,
    error_banner,
    measure,
    median,
    probe,
)
from bench.targets import DEMO_PASSWORD, Endpoint, PlatformProcess, TargetError, http

ANONYMOUS_PATH = "/public/v1/departments"
AUTHENTICATED_PATH = "/office/v1/departments"
LOGIN_PATH = "/public/v1/login"
LOGIN_ACCOUNT = "demo.citizen"
TARGET_RATIO = 0.80  # the goal: authenticated >= 80% of anonymous (requests/s)
DEFAULT_ROUNDS = 3
# Without these the gateway answers 429 after a handful of logins (30/min per client, 5/min per
# account): the login run would measure the limiter.
RELAXED_LOGIN_LIMITS = {
    "SMARTCITY_RATE_LOGIN_PER_CLIENT": "10000/s",
    "SMARTCITY_RATE_LOGIN_PER_ACCOUNT": "10000/s",
}


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


def _login_endpoint(base: str) -> Endpoint:
    body = orjson.dumps({"username": LOGIN_ACCOUNT, "password": DEMO_PASSWORD})
    return Endpoint(
        base + LOGIN_PATH, {"Content-Type": "application/json"}, method="POST", body=body
    )


def _report(
    tool: LoadTool,
    load: LoadSettings,
    login_load: LoadSettings,
    anonymous: list[LoadResult],
    authenticated: list[LoadResult],
    users: list[str],
    login: LoadResult,
    summary: dict[str, dict[str, Any]],
    ratios: dict[str, float],
    verdict: str,
) -> None:
    print()
    print(
        f"== identity: GET {AUTHENTICATED_PATH} (staff token) vs GET {ANONYMOUS_PATH} "
        "(anonymous) =="
    )
    print(
        f"load tool: {tool.describe()}; {load.describe()}, {len(anonymous)} round(s) "
        "alternating anonymous, authenticated; a fresh staff token before each authenticated run"
    )
    print()
    print(f"{'round':<8}{'anonymous':>12}{'authenticated':>15}{'auth/anon':>11}  token of")
    for i, (a, b) in enumerate(zip(anonymous, authenticated, strict=True), start=1):
        print(f"{i:<8}{a.rps:>12.1f}{b.rps:>15.1f}{b.rps / a.rps * 100:>10.1f}%  {users[i - 1]}")
    anon, auth = summary["anonymous"], summary["authenticated"]
    print(f"{'median':<8}{anon['rps']:>12.1f}{auth['rps']:>15.1f}")
    print(
        f"{'p50 ms':<8}{anon['p50_ms']:>12.2f}{auth['p50_ms']:>15.2f}\n"
        f"{'p99 ms':<8}{anon['p99_ms']:>12.2f}{auth['p99_ms']:>15.2f}\n"
        f"{'errors':<8}{anon['errors']:>12d}{auth['errors']:>15d}"
    )
    print()
    print(
        f"authenticated/anonymous: {ratios['authenticated/anonymous'] * 100:.1f}% "
        f"(median of the per-round ratios; ratio of the medians "
        f"{ratios['authenticated/anonymous (medians)'] * 100:.1f}%)"
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
    platform = PlatformProcess(
        workdir, ready_timeout, name="identity-platform", extra_env=RELAXED_LOGIN_LIMITS
    )
    anonymous: list[LoadResult] = []
    authenticated: list[LoadResult] = []
    users: list[str] = []
    try:
        print("bench: identity: starting the platform (runtime.cli up)", file=sys.stderr)
        platform.start()
        pids = " ".join(f"{k}={v}" for k, v in sorted(platform.pids().items()))
        print(f"bench: identity: platform up at {platform.base} ({pids})", file=sys.stderr)
        base = platform.base
        body = _check_routes(base, platform.logins.login().headers())
        anonymous_ep = Endpoint(base + ANONYMOUS_PATH)
        for rnd in range(1, rounds + 1):
            res = measure(tool, "anonymous", anonymous_ep, load)
            anonymous.append(res)
            _progress(rnd, rounds, "anonymous", res)
            token = platform.logins.login()
            users.append(token.username)
            auth_ep = Endpoint(base + AUTHENTICATED_PATH, token.headers())
            res = measure(tool, "authenticated", auth_ep, load)
            authenticated.append(res)
            _progress(rnd, rounds, "authenticated", res)
        login = measure(tool, "login", _login_endpoint(base), login_load, expect_status=200)
        _progress(1, 1, "login", login)
    except TargetError as exc:
        print(f"bench: identity FAILED: {exc}", file=sys.stderr)
        saved = platform.save_logs(logs_dest)
        print(f"bench: the platform's logs are in {saved}", file=sys.stderr)
        return Outcome({"error": str(exc)}, EXIT_TARGET_FAILED)
    finally:
        try:
            platform.stop()
        except Exception as exc:
            print(f"bench: stopping {platform.name}: {exc}", file=sys.stderr)

    summary = {
        "anonymous": median(anonymous),
        "authenticated": median(authenticated),
        "login": median([login]),
    }
    per_round = [
        b.rps / a.rps if a.rps > 0 else 0.0 for a, b in zip(anonymous, authenticated, strict=True)
    ]
    anon_rps = summary["anonymous"]["rps"]
    ratios = {
        "authenticated/anonymous": statistics.median(per_round),
        "authenticated/anonymous (medians)": (
            summary["authenticated"]["rps"] / anon_rps if anon_rps > 0 else 0.0
        ),
        "login/anonymous": login.rps / anon_rps if anon_rps > 0 else 0.0,
    }
    verdict = "PASS" if ratios["authenticated/anonymous"] >= TARGET_RATIO else "FAIL"
    _report(
        tool, load, login_load, anonymous, authenticated, users, login, summary, ratios, verdict
    )
    payload = {
        "benchmark": (
            f"GET {AUTHENTICATED_PATH} (staff token) vs GET {ANONYMOUS_PATH} (anonymous), "
            f"alternating; POST {LOGIN_PATH} ({LOGIN_ACCOUNT})"
        ),
        "config": {**load.to_json(), "rounds": rounds, "login": login_load.to_json()},
        "body": body,
        "runs": {
            "anonymous": [r.to_json() for r in anonymous],
            "authenticated": [
                {**r.to_json(), "token_of": u} for r, u in zip(authenticated, users, strict=True)
            ],
            "login": [login.to_json()],
        },
        "per_round_ratios": per_round,
        "median": summary,
        "ratios": ratios,
        "target": {"rule": f"authenticated >= {TARGET_RATIO:.0%} of anonymous", "verdict": verdict},
    }
    failed = any(s["errors"] for s in summary.values())
    return Outcome(payload, EXIT_LOAD_ERRORS if failed else EXIT_OK)


def _progress(rnd: int, rounds: int, name: str, res: LoadResult) -> None:
    flag = f"  ERRORS: {res.errors}" if res.errors else ""
    print(
        f"bench: identity round {rnd}/{rounds} {name:<13} {res.rps:10.1f} req/s  "
        f"p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms{flag}",
        file=sys.stderr,
    )
