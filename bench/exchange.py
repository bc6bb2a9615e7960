"""Scenario ``exchange``: an interface-service query through the gateway (token, grant,
authorisation code, masking and evidence) against a bare aiohttp handler returning the same
JSON, in the same run.

1. One platform (``python -m runtime.cli up``, fresh data dir, free ports). Through the gateway,
   as the integration tests do: hrss registers an open, unconditionally shared car-park resource
   and submits it, bdb.admin confirms and publishes it, hrss pushes 1,000 records and registers
   the interface service ``hrss.parking-bench`` (parameter 停车场名称, returning 停车场名称 and
   泊位数); psb asks for 停车场名称 only (granted at once, so 泊位数 comes back masked) and
   bdb.admin issues psb an authorisation code for the interface at the keys service's highest
   rate limit.
2. Checks: the query answers 200 with one record and 泊位数 masked; without a token it is 401,
   with a made-up code 403. The answer's bytes are what the bare handler serves.
3. Runs alternate B G B G ... B (bare, gateway) with the same request (method, headers, body) and
   load; each gateway run is compared with the mean of the bare runs around it. psb signs in again
   before each gateway run (tokens live 300 s). Any answer other than 200 is an error and fails
   the run; a 429 means the code's rate limit was reached, and is reported as such.
4. psb then reads its evidence (``GET /office/v1/exchange/evidence``, every page): one row per
   answered query is expected.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from bench.keys import thread_cpu_seconds
from bench.loadtool import LoadResult, LoadTool
from bench.runner import (
    EXIT_LOAD_ERRORS,
    EXIT_OK,
    EXIT_TARGET_FAILED,
    LoadSettings,
    Outcome,
    bracketed_ratios,
    cpu_median,
    cpu_seconds,
    error_banner,
    measured_run,
    median,
    pct,
    probe,
    stop_quietly,
    warm_up,
)
from bench.targets import (
    BareTarget,
    Endpoint,
    HttpReply,
    PlatformProcess,
    StaffLogins,
    TargetError,
    Token,
    http,
    platform_for,
)
from services.catalog.demo import DEPARTMENT_CODES
from services.exchange.domain import MASK, MAX_BATCH
from services.identity import totp
from services.keys.authcodes import MAX_RATE

EXCHANGE = "/office/v1/exchange"
INTERFACE = "hrss.parking-bench"
QUERY_PATH = f"{EXCHANGE}/interfaces/{INTERFACE}/query"
NAME, SPACES = "停车场名称", "泊位数"
PROVIDER, CONSUMER, BUREAU = "hrss.officer", "psb.officer", "bdb.admin"
DEFAULT_ROUNDS = 3
DEFAULT_RECORDS = 1000
TARGET_RPS = 1000.0  # the goal: interface queries through the gateway at 1,000/s or more
# The processes whose CPU time per query is reported for the gateway runs.
CPU_PROCESSES = ("gateway", "exchange", "keys")
MAIN_THREAD = "exchange main thread"
# What CPU time is read of: name -> (pid, a thread's id, or None for the whole process).
Watched = dict[str, tuple[int, int | None]]
EVIDENCE_PAGE = 100  # the gateway's largest page
THROTTLED = 429

# An open, unconditionally shared resource of hrss (tests/conftest.py's open_body).
RESOURCE: dict[str, Any] = {
    "name": "公共停车场泊位信息 Public car park spaces (bench)",
    "provider_department": "hrss",
    "provider_code": DEPARTMENT_CODES["hrss"],
    "classification": {"category": "2", "item": "05", "sub_item": "003"},
    "summary": "全市公共停车场的位置和泊位数量, 每日更新. Car parks and their spaces.",
    "format": "spreadsheet",
    "share_type": "unconditional",
    "share_methods": ["file", "interface"],
    "open_type": "open",
    "update_cycle": "daily",
    "data_grade": "public",
    "keywords": ["停车场", "交通"],
    "data_items": [
        {"name": NAME, "type": "string", "description": "car park name"},
        {"name": SPACES, "type": "integer", "description": "spaces"},
    ],
}


@dataclass(frozen=True)
class Prepared:
    """What the set-up left on the platform, and the measured request's body."""

    resource_id: str
    records: int
    code_id: str
    secret: str
    car_park: str  # the name queried
    query: bytes
    seconds: float


@dataclass
class ConsumerToken:
    """psb's access token, renewed before each gateway run. A TOTP code works once per account
    and 30-second step, so a token obtained less than a step ago is kept (it has 270 s or more
    to live); an older one is replaced without waiting, its step being past."""

    logins: StaffLogins
    token: Token | None = None
    sign_ins: int = 0

    def current(self) -> Token:
        """The token in hand (the bare handler does not check it)."""
        return self.token if self.token is not None else self.fresh()

    def fresh(self) -> Token:
        if self.token is None or self.token.age_s >= totp.STEP_SECONDS:
            self.token = self.logins.login(CONSUMER)
            self.sign_ins += 1
        return self.token


@dataclass
class Tally:
    """Every query the harness sent through the gateway, warm-ups and probes included: what the
    evidence should hold, and each status other than 200."""

    answered: int = 0  # 200s counted by the harness
    wrk_runs: int = 0  # load runs: each may leave `connections` queries in flight at its end
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, res: LoadResult) -> None:
        self.answered += res.requests - res.non2xx
        self.wrk_runs += 1
        for code, n in res.statuses.items():
            self.statuses[code] = self.statuses.get(code, 0) + n


def _expect(reply: HttpReply, status: int, what: str) -> Any:
    if reply.status != status:
        raise TargetError(f"{what}: HTTP {reply.status}, not {status}: {reply.body[:500]!r}")
    return reply.json() if reply.body else None


def _in_days(days: float) -> str:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def car_parks(count: int) -> list[dict[str, str]]:
    """`count` car parks with distinct names; 泊位数 is an integer, as its data item says."""
    return [
        {NAME: f"海口市第{i:04d}号公共停车场", SPACES: str(20 + (i * 37) % 480)}
        for i in range(1, count + 1)
    ]


def _push(base: str, token: Token, resource_id: str, rows: list[dict[str, str]]) -> int:
    url = f"{base}{EXCHANGE}/datasets/{resource_id}/records"
    count = 0
    for first in range(0, len(rows), MAX_BATCH):
        batch = [{"fields": r} for r in rows[first : first + MAX_BATCH]]
        reply = http("POST", url, headers=token.headers(), json_body={"records": batch})
        count = int(_expect(reply, 200, "push records")["record_count"])
    return count


def prepare(platform: PlatformProcess, consumer: ConsumerToken, records: int) -> Prepared:
    """The provider's resource, records and interface; the consumer's grant and code."""
    started = time.perf_counter()
    base, logins = platform.base, platform.logins
    hrss, bureau, psb = logins.login(PROVIDER), logins.login(BUREAU), consumer.fresh()
    resources = f"{base}/office/v1/catalog/resources"
    created = _expect(
        http("POST", resources, headers=hrss.headers(), json_body=RESOURCE), 201, "register"
    )
    rid = str(created["id"])
    for token, action, body in (
        (hrss, "submit", None),
        (bureau, "confirm", None),
        (bureau, "publish", {"share_catalog": True, "open_catalog": True}),
    ):
        url = f"{resources}/{rid}/{action}"
        _expect(http("POST", url, headers=token.headers(), json_body=body), 200, action)
    rows = car_parks(records)
    pushed = _push(base, hrss, rid, rows)
    interface = {
        "name": INTERFACE,
        "resource_id": rid,
        "description": "泊位数 by car park name",
        "parameters": [NAME],
        "returned_fields": [NAME, SPACES],
    }
    url = f"{base}{EXCHANGE}/interfaces"
    _expect(http("POST", url, headers=hrss.headers(), json_body=interface), 201, "interface")
    ask = {
        "resource_id": rid,
        "purpose": "停车诱导 parking guidance",
        "legal_basis": "《海口市智慧城市促进条例》第十三条",
        "fields": [NAME],  # 泊位数 stays outside the grant: its values come back masked
        "duration_days": 30,
    }
    url = f"{base}{EXCHANGE}/share-requests"
    granted = _expect(http("POST", url, headers=psb.headers(), json_body=ask), 201, "share request")
    if granted.get("state") != "granted":
        raise TargetError(f"share request not granted at once: {granted}")
    code = {
        "consumer": "department:psb",
        "interface_services": [INTERFACE],
        "expire_time": _in_days(1),
        "rate_limit_per_minute": MAX_RATE,
    }
    url = f"{base}/office/v1/authorisation-codes"
    issued = _expect(http("POST", url, headers=bureau.headers(), json_body=code), 201, "code")
    car_park = rows[len(rows) // 2][NAME]
    secret = str(issued["secret"])
    query = {"parameters": {NAME: car_park}, "purpose": "bench", "authorisation_code": secret}
    return Prepared(
        resource_id=rid,
        records=pushed,
        code_id=str(issued["code"]["id"]),
        secret=secret,
        car_park=car_park,
        query=orjson.dumps(query),
        seconds=time.perf_counter() - started,
    )


def _pids(platform: PlatformProcess, timeout: float = 10.0) -> dict[str, int]:
    """The platform's pids: the launcher writes them once every process is up, which may be
    a moment after the gateway first answers."""
    deadline = time.monotonic() + timeout
    pids = platform.pids()
    while not all(p in pids for p in CPU_PROCESSES) and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = platform.pids()
    if not all(p in pids for p in CPU_PROCESSES):
        print(f"bench: exchange: no pids for {CPU_PROCESSES} (CPU not read)", file=sys.stderr)
    return pids


def _endpoint(url: str, token: Token, body: bytes) -> Endpoint:
    headers = {**token.headers(), "Content-Type": "application/json"}
    return Endpoint(url, headers, method="POST", body=body)


def check_and_capture(base: str, token: Token, prepared: Prepared) -> HttpReply:
    """The query answers one record with 泊位数 masked; without a token it is refused (401), and
    with a made-up code (403): what is measured includes authorisation. Returns the answer."""
    ep = _endpoint(base + QUERY_PATH, token, prepared.query)
    reply = http("POST", ep.url, headers=ep.headers, data=ep.body)
    answer = _expect(reply, 200, f"POST {QUERY_PATH}")
    want = [{"fields": {NAME: prepared.car_park, SPACES: MASK}}]
    if answer.get("records") != want or answer.get("masked_fields") != [SPACES]:
        raise TargetError(f"the query's answer is not one record with {SPACES} masked: {answer}")
    if not answer.get("evidence_id"):
        raise TargetError(f"the query's answer carries no evidence id: {answer}")
    anonymous = http("POST", ep.url, headers={"Content-Type": "application/json"}, data=ep.body)
    _expect(anonymous, 401, "the query without a token")
    forged = orjson.loads(prepared.query) | {"authorisation_code": "iac.forged.secret"}
    refused = http("POST", ep.url, headers=ep.headers, json_body=forged)
    _expect(refused, 403, "the query with a made-up authorisation code")
    return reply


def _gateway_run(
    tool: LoadTool, ep: Endpoint, load: LoadSettings, pids: dict[str, int], tally: Tally
) -> tuple[LoadResult, dict[str, float]]:
    """Probe, warm up, then the measured run, with the CPU time of the gateway, exchange and keys
    processes during it, in microseconds per query. Every query is counted in `tally`."""
    probe("gateway", ep, expect_status=200)
    tally.answered += 1
    if load.warmup_s > 0:
        warm = measured_run(tool, ep, _warm(load), expect_status=200)
        tally.add(warm)
        if warm.errors:
            print(f"bench: exchange: {_errors_note(warm)} during warm-up", file=sys.stderr)
    watched: Watched = {p: (pids[p], None) for p in CPU_PROCESSES if p in pids}
    if "exchange" in pids:  # its event loop: every query's work but the database writes
        watched[MAIN_THREAD] = (pids["exchange"], pids["exchange"])
    before = _cpu_now(watched)
    res = measured_run(tool, ep, load, expect_status=200)
    tally.add(res)
    return res, _cpu_used(watched, before, res)


def _warm(load: LoadSettings) -> LoadSettings:
    return LoadSettings(load.warmup_s, 0, load.connections, load.threads)


def _bare_run(
    tool: LoadTool, ep: Endpoint, load: LoadSettings, pid: int | None
) -> tuple[LoadResult, dict[str, float]]:
    warm_up(tool, "bare", ep, load, expect_status=200)
    watched: Watched = {"bare": (pid, None)} if pid is not None else {}
    before = _cpu_now(watched)
    res = measured_run(tool, ep, load, expect_status=200)
    return res, _cpu_used(watched, before, res)


def _cpu_now(watched: Watched) -> dict[str, float | None]:
    """CPU seconds so far of each watched (process, thread or None for all its threads)."""
    return {
        name: cpu_seconds(pid) if tid is None else thread_cpu_seconds(pid, tid)
        for name, (pid, tid) in watched.items()
    }


def _cpu_used(
    watched: Watched, before: dict[str, float | None], res: LoadResult
) -> dict[str, float]:
    """Per watched process or thread since `before`: CPU µs per request, and cores used
    (`<name> cores`); the three platform processes summed as `all three`."""
    cpu: dict[str, float] = {}
    for name, end in _cpu_now(watched).items():
        start = before.get(name)
        if start is not None and end is not None and res.requests > 0:
            cpu[name] = (end - start) / res.requests * 1e6
            cpu[f"{name} cores"] = (end - start) / res.duration_s
    if all(p in cpu for p in CPU_PROCESSES):
        cpu["all three"] = sum(cpu[p] for p in CPU_PROCESSES)
        cpu["all three cores"] = sum(cpu[f"{p} cores"] for p in CPU_PROCESSES)
    return cpu


def count_evidence(base: str, token: Token) -> tuple[int, int, float]:
    """psb's evidence rows of the interface, read page by page: (rows, pages, seconds)."""
    started = time.perf_counter()
    rows = pages = 0
    page_token = ""
    while True:
        url = f"{base}{EXCHANGE}/evidence?page_size={EVIDENCE_PAGE}"
        if page_token:
            url += f"&page_token={quote(page_token, safe='')}"
        listed = _expect(http("GET", url, headers=token.headers()), 200, "GET evidence")
        pages += 1
        rows += sum(1 for e in listed["evidence"] if e.get("interface_service") == INTERFACE)
        page_token = listed.get("next_page_token") or ""
        if not page_token:
            return rows, pages, time.perf_counter() - started


def _errors_note(res: LoadResult) -> str:
    parts = [f"{n} x HTTP {code}" for code, n in sorted(res.statuses.items())]
    if res.socket_errors:
        parts.append(f"{res.socket_errors} socket errors")
    return ", ".join(parts) or f"{res.errors} errors"


def _report(
    tool: LoadTool,
    load: LoadSettings,
    prepared: Prepared,
    body: bytes,
    runs: dict[str, list[LoadResult]],
    summary: dict[str, dict[str, Any]],
    cpu: dict[str, dict[str, float]],
    ratios: dict[str, Any],
    evidence: dict[str, Any],
    tally: Tally,
    sign_ins: int,
    verdict: str,
) -> None:
    bare, gateway = runs["bare"], runs["gateway"]
    print()
    print(f"== exchange: POST {QUERY_PATH} (gateway) vs a bare aiohttp handler (bare) ==")
    print(
        f"load tool: {tool.describe()}; {load.describe()}; {len(gateway)} round(s): "
        f"B G B G ... B (bare, gateway); the same POST (psb's token, {len(prepared.query)}-byte "
        "JSON body) to both"
    )
    print(
        f"set-up: {prepared.records:,} records of hrss, interface {INTERFACE} "
        f"({NAME} -> {NAME}, {SPACES}), psb granted {NAME} only ({SPACES} masked); "
        f"{prepared.seconds:.1f} s"
    )
    print(
        f"code: rate limit {MAX_RATE:,}/min (the keys service's maximum: "
        f"{MAX_RATE / 60:,.0f}/s sustained, {MAX_RATE:,} at once, per exchange replica)"
    )
    print(
        f"query: {NAME}={prepared.car_park} -> 1 record; answer {len(body)} bytes "
        f"(the bare handler serves these bytes); psb signed in {sign_ins} time(s)"
    )
    print("gw/bare: each gateway run over the mean of the bare runs around it")
    print()
    print(f"{'round':<8}{'bare':>10}{'gateway':>10}{'gw/bare':>10}")
    for i, (b, g) in enumerate(zip(bare, gateway, strict=False), start=1):
        print(f"{i:<8}{b.rps:>10.1f}{g.rps:>10.1f}{pct(ratios['per_round'][i - 1]):>10}")
    print(f"{'end':<8}{bare[-1].rps:>10.1f}")
    b_sum, g_sum = summary["bare"], summary["gateway"]
    print(f"{'median':<8}{b_sum['rps']:>10.1f}{g_sum['rps']:>10.1f}")
    print(f"{'p50 ms':<8}{b_sum['p50_ms']:>10.2f}{g_sum['p50_ms']:>10.2f}")
    print(f"{'p99 ms':<8}{b_sum['p99_ms']:>10.2f}{g_sum['p99_ms']:>10.2f}")
    print(f"{'errors':<8}{b_sum['errors']:>10d}{g_sum['errors']:>10d}")
    if cpu["gateway"] or cpu["bare"]:
        print()
        print("CPU per request and cores used, medians (/proc around each measured run):")
        print(f"  {'run':<9}{'process':<22}{'µs/req':>8}{'cores':>7}")
        rows = [("bare", "bare"), *(("gateway", p) for p in (*CPU_PROCESSES, MAIN_THREAD))]
        for run_name, proc in [*rows, ("gateway", "all three")]:
            if proc in cpu[run_name]:
                used, cores = cpu[run_name][proc], cpu[run_name][f"{proc} cores"]
                print(f"  {run_name:<9}{proc:<22}{used:>8.0f}{cores:>7.2f}")
    print()
    print(
        f"evidence: {evidence['rows']:,} rows of {INTERFACE} for psb ({evidence['pages']} pages "
        f"in {evidence['seconds']:.1f} s); queries answered 200: {tally.answered:,}, at most "
        f"{evidence['in_flight_max']:,} more left in flight by the load runs "
        f"-> {evidence['verdict']}"
    )
    print()
    print(
        f"gateway/bare: {pct(ratios['gateway/bare'])} (median of the per-round ratios; of the "
        f"median rates {pct(ratios['gateway/bare (medians)'])})"
    )
    note = " (NOT valid: errors occurred)" if g_sum["errors"] else ""
    print(f"target: gateway >= {TARGET_RPS:,.0f} req/s -> {verdict}{note}")
    if tally.statuses.get(THROTTLED):
        print()
        print(
            f"!! {tally.statuses[THROTTLED]} x HTTP 429: the authorisation code's rate limit "
            f"({MAX_RATE:,}/min per exchange replica) was reached: the limiter, not the path, "
            "bounded these runs"
        )
    error_banner(summary, what="answers other than 200")


def run(
    tool: LoadTool,
    load: LoadSettings,
    *,
    workdir: Path,
    rounds: int,
    records: int,
    ready_timeout: float,
    logs_dest: Path,
) -> Outcome:
    platform = platform_for(workdir, ready_timeout, name="exchange-platform")
    bare: BareTarget | None = None
    runs: dict[str, list[LoadResult]] = {"bare": [], "gateway": []}
    cpus: dict[str, list[dict[str, float]]] = {"bare": [], "gateway": []}
    plan = [*(["bare", "gateway"] * rounds), "bare"]
    tally = Tally()
    if load.warmup_s + load.duration_s > 300 - totp.STEP_SECONDS:
        print("bench: exchange: runs this long outlive psb's token (300 s)", file=sys.stderr)
    try:
        print("bench: exchange: starting the platform (runtime.cli up)", file=sys.stderr)
        platform.start()
        print(f"bench: exchange: platform up at {platform.base}; setting up", file=sys.stderr)
        consumer = ConsumerToken(platform.logins)
        prepared = prepare(platform, consumer, records)
        pids = _pids(platform)
        captured = check_and_capture(platform.base, consumer.fresh(), prepared)
        tally.answered += 1
        body_file = workdir / "answer.json"
        body_file.write_bytes(captured.body)
        content_type = captured.headers.get("Content-Type", "application/json")
        bare = BareTarget(workdir, body_file, content_type)
        bare.start()
        bare_pid = bare.proc.proc.pid if bare.proc.proc is not None else None
        for name in plan:
            if name == "bare":
                ep = _endpoint(bare.endpoint().url, consumer.current(), prepared.query)
                res, used = _bare_run(tool, ep, load, bare_pid)
            else:
                ep = _endpoint(platform.base + QUERY_PATH, consumer.fresh(), prepared.query)
                res, used = _gateway_run(tool, ep, load, pids, tally)
            runs[name].append(res)
            cpus[name].append(used)
            _progress(sum(len(r) for r in runs.values()), len(plan), name, res, used)
        rows, pages, seconds = count_evidence(platform.base, consumer.fresh())
    except TargetError as exc:
        print(f"bench: exchange FAILED: {exc}", file=sys.stderr)
        saved = platform.save_logs(logs_dest)
        print(f"bench: the platform's logs are in {saved}", file=sys.stderr)
        return Outcome({"error": str(exc)}, EXIT_TARGET_FAILED)
    finally:
        stop_quietly(bare, platform)

    in_flight_max = tally.wrk_runs * load.connections
    evidence_ok = tally.answered <= rows <= tally.answered + in_flight_max
    evidence = {
        "rows": rows,
        "pages": pages,
        "seconds": seconds,
        "answered": tally.answered,
        "in_flight_max": in_flight_max,
        "verdict": "as expected" if evidence_ok else "NOT as expected",
    }
    summary = {name: median(rs) for name, rs in runs.items()}
    cpu = {name: cpu_median(cs) for name, cs in cpus.items()}
    per_round = bracketed_ratios([r.rps for r in runs["bare"]], [r.rps for r in runs["gateway"]])
    bare_rps = summary["bare"]["rps"]
    ratios: dict[str, Any] = {
        "per_round": per_round,
        "gateway/bare": statistics.median(per_round),
        "gateway/bare (medians)": summary["gateway"]["rps"] / bare_rps if bare_rps else 0.0,
    }
    verdict = "PASS" if summary["gateway"]["rps"] >= TARGET_RPS else "FAIL"
    _report(
        tool,
        load,
        prepared,
        captured.body,
        runs,
        summary,
        cpu,
        ratios,
        evidence,
        tally,
        consumer.sign_ins,
        verdict,
    )
    payload = {
        "benchmark": (
            f"POST {QUERY_PATH} through the gateway (token, grant, code, masking, evidence) vs a "
            "bare aiohttp handler returning the same JSON, alternating"
        ),
        "config": {**load.to_json(), "rounds": rounds, "records": prepared.records},
        "setup": {
            "resource_id": prepared.resource_id,
            "interface_service": INTERFACE,
            "code_id": prepared.code_id,
            "rate_limit_per_minute": MAX_RATE,
            "query_bytes": len(prepared.query),
            "answer_bytes": len(captured.body),
            "seconds": prepared.seconds,
        },
        "runs": {
            name: [
                {**r.to_json(), "cpu_us_per_request": c}
                for r, c in zip(rs, cpus[name], strict=True)
            ]
            for name, rs in runs.items()
        },
        "median": summary,
        "cpu_us_per_request": cpu,
        "ratios": ratios,
        "gateway_statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "evidence": evidence,
        "target": {"rule": f"gateway >= {TARGET_RPS:.0f} req/s", "verdict": verdict},
    }
    # Evidence missing (or more than was asked) is an error too: each answer must leave one row.
    failed = any(s["errors"] for s in summary.values()) or bool(tally.statuses) or not evidence_ok
    gw, bare_cpu = cpu["gateway"], cpu["bare"]
    parts = [f"{p} {gw[p]:.0f}" for p in (*CPU_PROCESSES, "all three") if p in gw]
    parts += [f"bare {bare_cpu['bare']:.0f}"] if "bare" in bare_cpu else []
    shown = ", ".join(parts)
    headline = (
        f"gateway/bare {pct(ratios['gateway/bare'])}, evidence {evidence['verdict']}; "
        f"CPU µs/request {shown or '-'}"
    )
    return Outcome(payload, EXIT_LOAD_ERRORS if failed else EXIT_OK, headline)


def _progress(done: int, total: int, name: str, res: LoadResult, cpu: dict[str, float]) -> None:
    flag = f"  ERRORS: {_errors_note(res)}" if res.errors else ""
    per_request = " ".join(f"{k} {v:.0f}" for k, v in cpu.items() if not k.endswith(" cores"))
    cpu_note = f"  cpu µs/req {per_request}" if per_request else ""
    if f"{MAIN_THREAD} cores" in cpu:
        cpu_note += f" (main thread {cpu[f'{MAIN_THREAD} cores']:.2f} cores)"
    print(
        f"bench: exchange run {done}/{total} {name:<8} {res.rps:10.1f} req/s  "
        f"p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms{cpu_note}{flag}",
        file=sys.stderr,
    )
