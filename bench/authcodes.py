"""Scenario `authcodes`: interface authorisation codes checked on the exchange's hot path.

`runtime.authcodes.AuthorisationCodeChecker` asks the keys service once per code, consumer and
interface service, then answers from memory (with the code's rate limit and use count kept). This
measures, in one process and one run, the checks per second it serves from its cache against a
baseline of the least any cache must do per call (hash the presented code, look it up in a dict),
and prints the ratio and the CPU time per check. The issue's target, 10,000 cached checks per
second or more, is informative like the other scenarios'; a check that fails is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time

from bench.runner import EXIT_LOAD_ERRORS, EXIT_OK, Outcome
from runtime.auth import Principal
from runtime.authcodes import AuthorisationCodeChecker, Verified

SECRET = "iac.0123456789abcdef." + "x" * 43
CONSUMER = Principal(subject="s", audience="office", kind="staff", department="psb")
CODE_ID = "0123456789abcdef"
DURATION_S = 2.0


async def _verified_once(secret: str, service: str, principal: Principal) -> Verified:
    # The one cache miss; in the platform this is the keys service's VerifyAuthorisationCode.
    return Verified(CODE_ID, rate_limit_per_minute=10**9, expires_at=4_000_000_000)


TARGET_CHECKS_PER_S = 10_000
BATCH = 1000  # calls between two looks at the clock


def _baseline(duration: float) -> tuple[float, float]:
    """Lookups per second and CPU µs per lookup."""
    cache = {hashlib.sha256(f"{SECRET}\0svc\0psb".encode()).digest(): CODE_ID}
    done, cpu0, deadline = 0, time.process_time(), time.perf_counter() + duration
    while time.perf_counter() < deadline:
        for _ in range(BATCH):
            cache[hashlib.sha256(f"{SECRET}\0svc\0psb".encode()).digest()]
        done += BATCH
    return done / duration, (time.process_time() - cpu0) / done * 1e6


async def _cached(duration: float) -> tuple[float, float, int]:
    """Checks per second, CPU µs per check, and the checks that did not answer the code."""
    checker = AuthorisationCodeChecker(_verified_once)
    await checker.check(SECRET, "svc", CONSUMER)
    done, wrong = 0, 0
    cpu0, deadline = time.process_time(), time.perf_counter() + duration
    while time.perf_counter() < deadline:
        for _ in range(BATCH):
            wrong += await checker.check(SECRET, "svc", CONSUMER) != CODE_ID
        done += BATCH
    return done / duration, (time.process_time() - cpu0) / done * 1e6, wrong


def run(duration: float = DURATION_S) -> Outcome:
    baseline, baseline_cpu = _baseline(duration)
    cached, cached_cpu, wrong = asyncio.run(_cached(duration))
    verdict = "PASS" if cached >= TARGET_CHECKS_PER_S else "FAIL"
    result = {
        "duration_s": duration,
        "baseline_lookups_per_s": round(baseline),
        "cached_checks_per_s": round(cached),
        "ratio": round(cached / baseline, 3),
        "cpu_us_per_op": {"baseline": baseline_cpu, "cached": cached_cpu},
        "errors": wrong,
        "target_checks_per_s": TARGET_CHECKS_PER_S,
        "meets_target": cached >= TARGET_CHECKS_PER_S,
    }
    print()
    print("== authcodes: authorisation codes checked from the cache vs a bare hash-and-lookup ==")
    print(
        f"authcodes: cached checks {cached:,.0f}/s, bare lookup {baseline:,.0f}/s "
        f"(ratio {cached / baseline:.1%}); CPU µs per check {cached_cpu:.2f}, per lookup "
        f"{baseline_cpu:.2f}; target {TARGET_CHECKS_PER_S:,}/s: {verdict}"
    )
    if wrong:
        print(f"!! ERRORS: {wrong} checks did not answer the code's id")
    headline = (
        f"cached/bare {cached / baseline:.1%}; CPU µs per check {cached_cpu:.2f} "
        f"(bare lookup {baseline_cpu:.2f})"
    )
    return Outcome(result, EXIT_LOAD_ERRORS if wrong else EXIT_OK, headline)


if __name__ == "__main__":
    argparse.ArgumentParser(
        prog="python -m bench.authcodes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args()
    run()
