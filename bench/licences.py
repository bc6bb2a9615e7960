"""Scenario ``licences``: online verification of licence presentations through the gateway
against the raw SM2 verify rate, in the same run; and the issuance and presentation rates.

1. One platform (``python -m runtime.cli up``, fresh data dir, free ports).
2. **Issuance**: hrss.officer issues N social security cards (``POST /office/v1/licences``) to
   the demo citizen with a few concurrent clients; each is an SM2 signature by the keys service, the
   holder's lookup at identity and a database write. Compared, for information, with the raw
   SM2 sign rate measured just before and after it.
3. **Presentations**: before each verification run, the demo citizen makes that run's
   presentations (``POST /public/v1/licences/mine/{id}/presentations``, name and card number,
   300 s), spread over the licences: each is one SM2 signature by the platform's key. They live
   300 s (plus 30 s of skew), so each run's are made just before it.
4. **Online verification**: ``POST /partner/v1/licences/verify`` as ``demo.partner``, each
   presentation verified once (the first verification records the verifier and a use for the
   holder: the realistic path), every answer 200 with ``"result": "valid"`` or the run fails.
   The load is this module's own closed-loop aiohttp client (a fixed number of requests in
   flight, each request with its own body, latency per request): ``bench.loadtool`` repeats one
   body for a duration, and a presentation verified twice by the same verifier skips the write.
5. **Baseline**: raw SM2 verify (``runtime.algorithms.verify``, tongsuopy, one public key,
   pre-made signatures over 32-byte SM3 digests) in a process of its own, on one thread, run
   B G B G ... B with the gateway runs; each gateway run is compared with the mean of the raw runs
   around it. The issue's target: the gateway keeps >= 40% of the raw rate (informative: only
   errors fail the run).

Around every measured batch the CPU time of the gateway, licences (and its main thread), keys
and identity processes and of this process (the client) is read from ``/proc``: µs per request.

The raw loops run as ``python -m bench._licencesraw --raw sign|verify --duration S --warmup S``.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from bench.keys import thread_cpu_seconds
from bench.runner import (
    EXIT_LOAD_ERRORS,
    EXIT_OK,
    Outcome,
    bracketed_ratios,
    cpu_median,
    cpu_seconds,
    pct,
    platform_failed,
    stop_quietly,
)
from bench.targets import (
    DEMO_PASSWORD,
    ROOT,
    PlatformProcess,
    TargetError,
    Token,
    http,
    platform_for,
)
from services.identity.demo import CITIZEN
from services.licences.demo import sample_fields

OFFICE = "/office/v1/licences"
PUBLIC = "/public/v1/licences"
VERIFY_PATH = "/partner/v1/licences/verify"
# The law allows a person one driving licence (and one ID card) at a time: a social security
# card has no such rule, so that one holder may be issued many.
LICENCE_TYPE = "social_security_card"
ISSUER = "hrss.officer"  # a licence issuer of hrss, which issues social security cards
HOLDER = "demo.citizen"
VERIFIER = "demo.partner"
DISCLOSE = ("name", "card_number")
PRESENTATION_TTL_S = 300  # the longest a presentation may live

DEFAULT_LICENCES = 300
DEFAULT_VERIFIES = 4000  # presentations verified per gateway run
DEFAULT_ROUNDS = 2  # B G B G B
DEFAULT_CONCURRENCY = 8  # clients issuing and presenting
DEFAULT_VERIFY_CONCURRENCY = 32  # requests in flight during the verification runs
RAW_DURATION_S = 3.0
TARGET_RATIO = 0.40  # the issue's goal: the gateway keeps >= 40% of the raw SM2 verify rate

# The processes whose CPU is read around each batch; the licences main thread is the event loop.
CPU_PROCESSES = ("gateway", "licences", "keys", "identity")
MAIN_THREAD = "licences main"
CLIENT = "client"
REQUEST_TIMEOUT_S = 30.0
RAW_TIMEOUT_S = 60.0
STATE_TIMEOUT_S = 10.0


# --- the raw loops (a process of their own: bench._licencesraw) -----------------------------


@dataclass(frozen=True)
class RawRun:
    op: str
    rate: float  # operations per second
    cpu_us_per_op: float

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "ops_per_s": self.rate, "cpu_us_per_op": self.cpu_us_per_op}


def raw_run(op: str, *, duration_s: float = RAW_DURATION_S) -> RawRun:
    argv = [sys.executable, "-m", "bench._licencesraw", "--raw", op, "--duration", str(duration_s)]
    try:
        proc = subprocess.run(
            argv, cwd=ROOT, capture_output=True, timeout=duration_s + RAW_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise TargetError(
            f"raw SM2 {op}: no result within {duration_s + RAW_TIMEOUT_S:.0f}s"
        ) from None
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise TargetError(f"raw SM2 {op} exited with {proc.returncode}: {tail}")
    data = orjson.loads(proc.stdout.strip().splitlines()[-1])
    ops = int(data["ops"])
    return RawRun(
        op=op,
        rate=ops / float(data["seconds"]),
        cpu_us_per_op=float(data["cpu_s"]) / ops * 1e6 if ops else 0.0,
    )


# --- the HTTP client: a fixed number of requests in flight, one body each ----------------------


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Batch:
    """Every request of a batch answered: statuses and bodies in order, latencies, time."""

    what: str
    statuses: list[int]
    bodies: list[bytes]
    latencies_s: list[float]
    seconds: float
    socket_errors: int
    cpu_us: dict[str, float] = field(default_factory=dict)  # per request, by process
    cores: dict[str, float] = field(default_factory=dict)
    errors: int = 0  # answers that are not what the batch expects (set by the caller)

    @property
    def requests(self) -> int:
        return len(self.statuses)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return 0.0
        rank = max(0, min(len(ordered) - 1, round(p / 100.0 * len(ordered)) - 1))
        return ordered[rank] * 1000.0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "rate": self.rate,
            "p50_ms": self.percentile_ms(50.0),
            "p99_ms": self.percentile_ms(99.0),
            "errors": self.errors,
            "socket_errors": self.socket_errors,
            "statuses": {str(k): n for k, n in sorted(Counter(self.statuses).items())},
            "cpu_us_per_request": self.cpu_us,
            "cores": self.cores,
        }


async def _drive(what: str, requests: Sequence[Request], concurrency: int) -> Batch:
    statuses = [0] * len(requests)
    bodies = [b""] * len(requests)
    latencies: list[float] = []
    socket_errors = 0
    turn = iter(range(len(requests)))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal socket_errors
        for i in turn:
            req = requests[i]
            started = time.perf_counter()
            try:
                async with session.request(
                    req.method, req.url, headers=req.headers, data=req.body
                ) as resp:
                    bodies[i] = await resp.read()
                    statuses[i] = resp.status
            except (aiohttp.ClientError, TimeoutError):
                socket_errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    # trust_env=False (the default): no proxy between the client and loopback.
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(min(concurrency, len(requests)))))
        seconds = time.perf_counter() - started
    return Batch(what, statuses, bodies, latencies, seconds, socket_errors)


Watched = dict[str, tuple[int, int | None]]  # name -> (pid, a thread's id or None for all)


def _cpu_now(watched: Watched) -> dict[str, float | None]:
    now: dict[str, float | None] = {
        name: cpu_seconds(pid) if tid is None else thread_cpu_seconds(pid, tid)
        for name, (pid, tid) in watched.items()
    }
    now[CLIENT] = time.process_time()  # this process: the client's event loop
    return now


def drive(what: str, requests: Sequence[Request], concurrency: int, watched: Watched) -> Batch:
    """Send every request once, ``concurrency`` at a time, reading the CPU time of the watched
    processes (and of this one, the client) before and after."""
    before = _cpu_now(watched)
    batch = uvloop.run(_drive(what, requests, concurrency))
    after = _cpu_now(watched)
    for name, end in after.items():
        start = before.get(name)
        if start is not None and end is not None and batch.requests:
            batch.cpu_us[name] = (end - start) / batch.requests * 1e6
            batch.cores[name] = (end - start) / batch.seconds
    return batch


# --- the platform's people -----------------------------------------------------------------------


def password_login(base: str, entry: str, username: str) -> Token:
    """A citizen's or a partner's sign-in: a password, no TOTP."""
    body = {"username": username, "password": DEMO_PASSWORD}
    reply = http("POST", f"{base}/{entry}/v1/login", json_body=body)
    if reply.status != 200:
        raise TargetError(f"{entry} login {username}: HTTP {reply.status}: {reply.body[:300]!r}")
    return Token.from_login(reply.json(), username=username)


def _json_headers(token: Token) -> dict[str, str]:
    return {**token.headers(), "Content-Type": "application/json"}


def _watched(platform: PlatformProcess) -> Watched:
    """The platform's processes, from the launcher's state file (written a moment after the
    gateway first answers)."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    pids = platform.pids()
    while not all(p in pids for p in CPU_PROCESSES) and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = platform.pids()
    if not all(p in pids for p in CPU_PROCESSES):
        print(f"bench: licences: no pids for {CPU_PROCESSES} (CPU not read)", file=sys.stderr)
    watched: Watched = {p: (pids[p], None) for p in CPU_PROCESSES if p in pids}
    if "licences" in pids:
        watched[MAIN_THREAD] = (pids["licences"], pids["licences"])
    return watched


def _answers(batch: Batch, status: int) -> list[dict[str, Any]]:
    """The batch's answers as JSON; each one with another status (or none: a socket error) is
    an error."""
    out: list[dict[str, Any]] = []
    for code, body in zip(batch.statuses, batch.bodies, strict=True):
        if code != status:
            batch.errors += 1
            continue
        out.append(dict(orjson.loads(body)))
    return out


def _first_error(batch: Batch, status: int) -> str:
    for code, body in zip(batch.statuses, batch.bodies, strict=True):
        if code != status:
            return f"HTTP {code}: {body[:300]!r}" if code else "no answer (socket error)"
    return ""


def issue(
    base: str, token: Token, holder_number: str, count: int, concurrency: int, watched: Watched
) -> tuple[Batch, list[str]]:
    """``count`` social security cards for the holder; returns the batch and the licences' ids."""
    body = orjson.dumps(
        {"licence_type": LICENCE_TYPE, "fields": sample_fields(LICENCE_TYPE, holder_number)}
    )
    requests = [Request("POST", base + OFFICE, _json_headers(token), body)] * count
    batch = drive("issue", requests, concurrency, watched)
    ids = [str(a["id"]) for a in _answers(batch, 201) if a.get("status") == "valid"]
    batch.errors = batch.requests - len(ids)
    if batch.errors:
        raise TargetError(f"issuance: {batch.errors} errors, first {_first_error(batch, 201)}")
    return batch, ids


def present(
    base: str, token: Token, licences: Sequence[str], count: int, concurrency: int, watched: Watched
) -> tuple[Batch, list[bytes]]:
    """``count`` presentations, spread over the licences in turn; returns the batch and each
    presentation's verification body."""
    body = orjson.dumps({"disclose": list(DISCLOSE), "ttl_seconds": PRESENTATION_TTL_S})
    headers = _json_headers(token)
    requests = [
        Request(
            "POST",
            f"{base}{PUBLIC}/mine/{licences[i % len(licences)]}/presentations",
            headers,
            body,
        )
        for i in range(count)
    ]
    batch = drive("present", requests, concurrency, watched)
    texts = [orjson.dumps({"presentation": a["presentation"]}) for a in _answers(batch, 201)]
    if batch.errors:
        raise TargetError(f"presentations: {batch.errors} errors, first {_first_error(batch, 201)}")
    return batch, texts


def verify(
    base: str, token: Token, bodies: Sequence[bytes], concurrency: int, watched: Watched
) -> tuple[Batch, Counter[str]]:
    """Each presentation verified once as the partner; every answer must be 200 and valid.
    Returns the batch (its errors counted) and the verdicts other than valid."""
    headers = _json_headers(token)
    requests = [Request("POST", base + VERIFY_PATH, headers, b) for b in bodies]
    batch = drive("verify", requests, concurrency, watched)
    verdicts: Counter[str] = Counter()
    for code, body in zip(batch.statuses, batch.bodies, strict=True):
        if code != 200:
            verdicts[f"HTTP {code}" if code else "no answer (socket error)"] += 1
            continue
        result = str(orjson.loads(body).get("result"))
        if result != "valid":
            verdicts[result] += 1
    batch.errors = sum(verdicts.values())
    return batch, verdicts


def _check_replay(base: str, body: bytes, token: Token) -> None:
    """A presentation the partner verified: the partner again is told valid, anyone else that
    it was replayed (so the measured verifications recorded their verifier)."""
    again = http("POST", base + VERIFY_PATH, headers=_json_headers(token), data=body)
    if again.status != 200 or again.json().get("result") != "valid":
        raise TargetError(f"the partner verifying again: HTTP {again.status} {again.body[:300]!r}")
    other = http("POST", f"{base}{PUBLIC}/verify", data=body)
    if other.status != 200 or other.json().get("result") != "replayed":
        raise TargetError(f"an anonymous verifier: HTTP {other.status} {other.body[:300]!r}")


# --- the scenario ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicencesSettings:
    licences: int = DEFAULT_LICENCES
    verifies: int = DEFAULT_VERIFIES
    rounds: int = DEFAULT_ROUNDS
    concurrency: int = DEFAULT_CONCURRENCY
    verify_concurrency: int = DEFAULT_VERIFY_CONCURRENCY
    raw_duration_s: float = RAW_DURATION_S

    def to_json(self) -> dict[str, Any]:
        return {
            "licences": self.licences,
            "verifies_per_run": self.verifies,
            "rounds": self.rounds,
            "concurrency": self.concurrency,
            "verify_concurrency": self.verify_concurrency,
            "raw_duration_s": self.raw_duration_s,
        }


@dataclass
class Runs:
    raw_sign: list[RawRun] = field(default_factory=list)
    raw_verify: list[RawRun] = field(default_factory=list)
    issue: Batch | None = None
    warm_up: Batch | None = None
    present: list[Batch] = field(default_factory=list)
    verify: list[Batch] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)


def _progress(what: str, rate: float, unit: str, batch: Batch | None = None) -> None:
    extra = ""
    if batch is not None:
        extra = f"  p50 {batch.percentile_ms(50):.1f} ms p99 {batch.percentile_ms(99):.1f} ms"
        cpu = " ".join(
            f"{k} {v:.0f}" for k, v in batch.cpu_us.items() if k in (*CPU_PROCESSES, CLIENT)
        )
        extra += f"  cpu µs/req {cpu}" if cpu else ""
        if batch.errors:
            extra += f"  ERRORS: {batch.errors}"
    print(f"bench: licences {what:<24} {rate:10.1f} {unit}{extra}", file=sys.stderr)


def _measure(platform: PlatformProcess, settings: LicencesSettings, runs: Runs) -> dict[str, Any]:
    base = platform.base
    watched = _watched(platform)
    issuer = platform.logins.login(ISSUER)

    # Issuance, between two raw sign runs.
    runs.raw_sign.append(raw_run("sign", duration_s=settings.raw_duration_s))
    _progress("raw SM2 sign", runs.raw_sign[-1].rate, "signs/s")
    runs.issue, licences = issue(
        base, issuer, CITIZEN.resident_id, settings.licences, settings.concurrency, watched
    )
    _progress("issue", runs.issue.rate, "issued/s", runs.issue)
    runs.raw_sign.append(raw_run("sign", duration_s=settings.raw_duration_s))
    _progress("raw SM2 sign", runs.raw_sign[-1].rate, "signs/s")

    # Warm-up: one presentation per licence verified (the service checks each credential's
    # signature once, then keeps the verdict), not measured.
    holder = password_login(base, "public", HOLDER)
    _, bodies = present(base, holder, licences, len(licences), settings.concurrency, watched)
    partner = password_login(base, "partner", VERIFIER)
    runs.warm_up, verdicts = verify(base, partner, bodies, settings.verify_concurrency, watched)
    _progress("warm-up verify", runs.warm_up.rate, "verifies/s", runs.warm_up)
    runs.verdicts.update(verdicts)
    _check_replay(base, bodies[0], partner)

    runs.raw_verify.append(raw_run("verify", duration_s=settings.raw_duration_s))
    _progress("raw SM2 verify", runs.raw_verify[-1].rate, "verifies/s")
    for _ in range(settings.rounds):
        holder = password_login(base, "public", HOLDER)  # tokens live 300 s
        made, bodies = present(
            base, holder, licences, settings.verifies, settings.concurrency, watched
        )
        runs.present.append(made)
        _progress("present", made.rate, "presented/s", made)
        partner = password_login(base, "partner", VERIFIER)
        checked, verdicts = verify(base, partner, bodies, settings.verify_concurrency, watched)
        runs.verify.append(checked)
        runs.verdicts.update(verdicts)
        _progress("gateway verify", checked.rate, "verifies/s", checked)
        runs.raw_verify.append(raw_run("verify", duration_s=settings.raw_duration_s))
        _progress("raw SM2 verify", runs.raw_verify[-1].rate, "verifies/s")
    return {"licences": len(licences), "watched": sorted(watched)}


def _summary(runs: Runs) -> dict[str, Any]:
    assert runs.issue is not None
    sign_mean = statistics.fmean(r.rate for r in runs.raw_sign)
    per_round = bracketed_ratios([r.rate for r in runs.raw_verify], [b.rate for b in runs.verify])
    presented = statistics.median(b.rate for b in runs.present)
    return {
        "issue": {**runs.issue.to_json(), "raw_sign_mean": sign_mean},
        "issue/raw_sign": runs.issue.rate / sign_mean if sign_mean else 0.0,
        "present": {
            "rate": presented,
            "p50_ms": statistics.median(b.percentile_ms(50) for b in runs.present),
            "p99_ms": statistics.median(b.percentile_ms(99) for b in runs.present),
            "cpu_us_per_request": cpu_median([b.cpu_us for b in runs.present]),
        },
        "present/raw_sign": presented / sign_mean if sign_mean else 0.0,
        "verify": {
            "rate": statistics.median(b.rate for b in runs.verify),
            "p50_ms": statistics.median(b.percentile_ms(50) for b in runs.verify),
            "p99_ms": statistics.median(b.percentile_ms(99) for b in runs.verify),
            "errors": sum(b.errors for b in runs.verify),
            "cpu_us_per_request": cpu_median([b.cpu_us for b in runs.verify]),
            "cores": cpu_median([b.cores for b in runs.verify]),
        },
        "raw_verify": {
            "rate": statistics.median(r.rate for r in runs.raw_verify),
            "cpu_us_per_op": statistics.median(r.cpu_us_per_op for r in runs.raw_verify),
        },
        "raw_sign": {
            "rate": statistics.median(r.rate for r in runs.raw_sign),
            "cpu_us_per_op": statistics.median(r.cpu_us_per_op for r in runs.raw_sign),
        },
        "per_round": per_round,
        "gateway/raw": statistics.median(per_round),
    }


def _cpu_line(cpu: dict[str, float], cores: dict[str, float] | None = None) -> str:
    names = [n for n in (*CPU_PROCESSES, MAIN_THREAD, CLIENT) if n in cpu]
    parts = []
    for n in names:
        part = f"{n} {cpu[n]:,.0f}"
        if cores is not None and n in cores:
            part += f" ({cores[n]:.2f} cores)"
        parts.append(part)
    return ", ".join(parts)


def _report(
    settings: LicencesSettings, runs: Runs, summary: dict[str, Any], verdict: str, seconds: float
) -> None:
    assert runs.issue is not None
    iss, pre, ver = summary["issue"], summary["present"], summary["verify"]
    print()
    print(f"== licences: POST {VERIFY_PATH} (gateway) vs raw SM2 verify (raw, one process) ==")
    print(
        f"client: this harness, aiohttp closed loop, {settings.verify_concurrency} verifications "
        f"in flight ({settings.concurrency} for issuing and presenting), each presentation "
        f"verified once by {VERIFIER}; {settings.rounds} round(s): B G B G ... B (raw, gateway), "
        f"{settings.verifies:,} verifications per gateway run, raw runs of "
        f"{settings.raw_duration_s:g} s; the whole scenario took {seconds:.0f} s"
    )
    print()
    print(
        f"issuance: {runs.issue.requests} {LICENCE_TYPE}s by {ISSUER} to {HOLDER} in "
        f"{runs.issue.seconds:.1f} s: {runs.issue.rate:,.1f} issued/s, p50 "
        f"{iss['p50_ms']:.1f} ms, p99 {iss['p99_ms']:.1f} ms; raw SM2 sign around it "
        f"{iss['raw_sign_mean']:,.0f}/s: {pct(summary['issue/raw_sign'])} (informative)"
    )
    print(f"  CPU µs per licence: {_cpu_line(runs.issue.cpu_us, runs.issue.cores)}")
    rates = ", ".join(f"{b.rate:,.1f}" for b in runs.present)
    print(
        f"presentations: {rates} per s (median {pre['rate']:,.1f}), p50 {pre['p50_ms']:.1f} ms, "
        f"p99 {pre['p99_ms']:.1f} ms; of the raw SM2 sign rate {pct(summary['present/raw_sign'])}"
    )
    print(f"  CPU µs per presentation: {_cpu_line(pre['cpu_us_per_request'])}")
    print()
    print(f"{'round':<8}{'raw/s':>10}{'gateway/s':>11}{'gw/raw':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for i, (r, g) in enumerate(zip(runs.raw_verify, runs.verify, strict=False), start=1):
        print(
            f"{i:<8}{r.rate:>10,.0f}{g.rate:>11,.1f}{pct(summary['per_round'][i - 1]):>9}"
            f"{g.percentile_ms(50):>9.1f}{g.percentile_ms(99):>9.1f}"
        )
    print(f"{'end':<8}{runs.raw_verify[-1].rate:>10,.0f}")
    print(
        f"{'median':<8}{summary['raw_verify']['rate']:>10,.0f}{ver['rate']:>11,.1f}"
        f"{pct(summary['gateway/raw']):>9}{ver['p50_ms']:>9.1f}{ver['p99_ms']:>9.1f}"
    )
    print()
    print(
        f"CPU µs per verification (medians): {_cpu_line(ver['cpu_us_per_request'], ver['cores'])}; "
        f"raw SM2 verify {summary['raw_verify']['cpu_us_per_op']:,.0f} µs per verify"
    )
    if runs.verdicts:
        print(f"!! verdicts other than valid: {dict(runs.verdicts)}")
    print()
    note = " (NOT valid: errors occurred)" if ver["errors"] else ""
    print(
        f"target: gateway verify >= {pct(TARGET_RATIO)} of raw SM2 verify -> {verdict}{note} "
        f"(gw/raw {pct(summary['gateway/raw'])}: median of the per-round ratios)"
    )


def run(
    settings: LicencesSettings, *, workdir: Path, ready_timeout: float, logs_dest: Path
) -> Outcome:
    platform = platform_for(workdir, ready_timeout, name="licences-platform")
    runs = Runs()
    started = time.monotonic()
    try:
        print("bench: licences: starting the platform (runtime.cli up)", file=sys.stderr)
        platform.start()
        print(f"bench: licences: platform up at {platform.base}", file=sys.stderr)
        prepared = _measure(platform, settings, runs)
    except TargetError as exc:
        return platform_failed("licences", platform, exc, logs_dest)
    finally:
        stop_quietly(platform)
    seconds = time.monotonic() - started
    summary = _summary(runs)
    verdict = "PASS" if summary["gateway/raw"] >= TARGET_RATIO else "FAIL"
    _report(settings, runs, summary, verdict, seconds)
    payload = {
        "benchmark": (
            f"POST {VERIFY_PATH} through the gateway, each presentation once, vs raw SM2 verify "
            "(tongsuopy, one process), alternating; issuance and presentation rates"
        ),
        "config": settings.to_json(),
        "prepared": prepared,
        "runs": {
            "raw_sign": [r.to_json() for r in runs.raw_sign],
            "raw_verify": [r.to_json() for r in runs.raw_verify],
            "issue": runs.issue.to_json() if runs.issue else None,
            "warm_up": runs.warm_up.to_json() if runs.warm_up else None,
            "present": [b.to_json() for b in runs.present],
            "verify": [b.to_json() for b in runs.verify],
        },
        "verdicts_not_valid": dict(runs.verdicts),
        "summary": summary,
        "seconds": seconds,
        "target": {"rule": f"gateway verify >= {pct(TARGET_RATIO)} of raw", "verdict": verdict},
    }
    failed = bool(runs.verdicts) or summary["verify"]["errors"] > 0
    headline = (
        f"gateway verify/raw {pct(summary['gateway/raw'])}, issue/raw sign "
        f"{pct(summary['issue/raw_sign'])}; CPU µs/verification "
        f"{_cpu_line(summary['verify']['cpu_us_per_request']) or '-'} "
        f"(raw {summary['raw_verify']['cpu_us_per_op']:,.0f})"
    )
    return Outcome(payload, EXIT_LOAD_ERRORS if failed else EXIT_OK, headline)
