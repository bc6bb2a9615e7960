"""Scenario `authcodes`: interface authorisation codes checked on the exchange's hot path.

`runtime.authcodes.AuthorisationCodeChecker` asks the keys service once per code, consumer and
interface service, then answers from memory (with the code's rate limit and use count kept). This
measures, in one process and one run, the checks per second it serves from its cache against a
baseline of the least any cache must do per call (hash the presented code, look it up in a dict),
and prints the ratio. The issue's target: 10,000 cached checks per second or more.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from runtime.auth import Principal
from runtime.authcodes import AuthorisationCodeChecker, Verified

SECRET = "iac.0123456789abcdef." + "x" * 43
CONSUMER = Principal(subject="s", audience="office", kind="staff", department="psb")
DURATION_S = 2.0


async def _verified_once(secret: str, service: str, principal: Principal) -> Verified:
    # The one cache miss; in the platform this is the keys service's VerifyAuthorisationCode.
    return Verified("0123456789abcdef", rate_limit_per_minute=10**9, expires_at=4_000_000_000)


def _baseline(duration: float) -> float:
    cache = {hashlib.sha256(f"{SECRET}\0svc\0psb".encode()).digest(): "0123456789abcdef"}
    done, deadline = 0, time.perf_counter() + duration
    while time.perf_counter() < deadline:
        for _ in range(1000):
            cache[hashlib.sha256(f"{SECRET}\0svc\0psb".encode()).digest()]
        done += 1000
    return done / duration


async def _cached(duration: float) -> float:
    checker = AuthorisationCodeChecker(_verified_once)
    await checker.check(SECRET, "svc", CONSUMER)
    done, deadline = 0, time.perf_counter() + duration
    while time.perf_counter() < deadline:
        for _ in range(1000):
            await checker.check(SECRET, "svc", CONSUMER)
        done += 1000
    return done / duration


def run(duration: float = DURATION_S) -> dict[str, Any]:
    baseline = _baseline(duration)
    cached = asyncio.run(_cached(duration))
    result = {
        "baseline_lookups_per_s": round(baseline),
        "cached_checks_per_s": round(cached),
        "ratio": round(cached / baseline, 3),
        "target_checks_per_s": 10_000,
        "meets_target": cached >= 10_000,
    }
    print(
        f"authcodes: cached checks {cached:,.0f}/s, bare lookup {baseline:,.0f}/s "
        f"(ratio {cached / baseline:.1%}); target 10,000/s: "
        f"{'PASS' if cached >= 10_000 else 'FAIL'}"
    )
    return result


if __name__ == "__main__":
    run()
