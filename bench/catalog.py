"""Scenario ``catalog``: open-catalog search through the gateway against the same searches run
directly on the catalog's database, in the same run.

1. One platform (``python -m runtime.cli up``, fresh data dir, free ports). Once it is ready,
   10,000 generated resources (:mod:`bench._catalogdata`) are loaded straight into the
   catalog's database with the service's own store functions, in transactions of 1,000: each is
   registered (``store.insert_resource``), published (``store.set_state``: in the share catalog,
   70% in the open one too, publication times spread over three years) and listed with its search
   terms (``store.list_entry``), as the publish step does. The lifecycle's transitions, events and
   audit records are left out: search reads none of them, and 10,000 events would keep the bus
   busy during the runs.
2. Every query of the mix must match something, and the gateway's first page must list the same
   resources in the same order as the store's: both sides do the same work.
3. Runs alternate D G D G ... D: ``direct`` is :mod:`bench._catalogdirect`, one process calling
   ``store.search_entries`` in a loop over the mix (one search at a time); ``gateway`` is the
   load tool cycling through ``GET /public/v1/catalog/open?q=...`` for the same mix (anonymous,
   32 connections). Each gateway run is compared with the mean of the direct runs around it.
   Any answer other than 200 is an error and fails the run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import _catalogdata as data
from bench._catalogdirect import search_filter
from bench.loadtool import LoadResult, LoadTool, run_load
from bench.runner import (
    EXIT_LOAD_ERRORS,
    EXIT_OK,
    LoadSettings,
    Outcome,
    bracketed_ratios,
    cpu_median,
    cpu_seconds,
    error_banner,
    median,
    pct,
    platform_failed,
    stop_quietly,
)
from bench.targets import ROOT, TargetError, http, platform_for
from runtime import config
from runtime.loop import run as run_loop
from runtime.pagination import page_size
from runtime.storage import Database, now_us
from services.catalog import domain, store

SEARCH_PATH = "/public/v1/catalog/open"
DEFAULT_RESOURCES = 10_000
DEFAULT_ROUNDS = 3
TARGET_RPS = 1000.0  # the goal: search through the gateway at 1,000 requests/s or more
LOAD_BATCH = 1000  # resources per transaction
CREATED_BY = "bench"
# The processes whose CPU time per search is reported for the gateway runs.
CPU_PROCESSES = ("gateway", "catalog")
_DIRECT_GRACE_S = 60.0


@dataclass(frozen=True)
class Loaded:
    """What the load left in the catalog."""

    resources: int
    seconds: float
    entries: int
    open_entries: int
    search_terms: int


@dataclass(frozen=True)
class Expected:
    """The store's answer to one query of the mix: its first page, and how many match."""

    ids: list[str]
    matches: int
    terms: int


def search_paths() -> list[str]:
    """The mix as the gateway's paths, query strings percent-encoded."""
    return [f"{SEARCH_PATH}?{urlencode(q.params(), quote_via=quote)}" for q in data.MIX]


async def _publish(conn: AsyncConnection, generated: data.Generated) -> None:
    """Register, publish and list one resource: the store calls of `resources.register` and of
    the publish step, without their transitions, events and audit records."""
    domain.validate_resource(generated.content)
    domain.check_publication(generated.content, share=True, open_=generated.open_catalog)
    await store.insert_resource(
        conn,
        generated.content,
        resource_id=generated.resource_id,
        code=generated.code,
        created_by=CREATED_BY,
        request_id=None,
    )
    published = await store.set_state(
        conn,
        generated.resource_id,
        domain.PUBLISHED,
        in_share=True,
        in_open=generated.open_catalog,
        published_version=1,
        publish_us=generated.published_us,
    )
    await store.list_entry(conn, published, published_us=generated.published_us)


async def _count(db: Database, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    async with db.read() as conn:
        counted = await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where))
        return int(counted or 0)


async def _load_and_expect(url: str, count: int) -> tuple[Loaded, list[Expected]]:
    """Load `count` resources, then ask the store for each query's answer."""
    db = Database(url, service="catalog")
    try:
        started = time.perf_counter()
        pending = list(data.generate(count, now_us=now_us()))
        for first in range(0, len(pending), LOAD_BATCH):
            async with db.begin() as conn:
                for generated in pending[first : first + LOAD_BATCH]:
                    await _publish(conn, generated)
            done = min(first + LOAD_BATCH, len(pending))
            print(
                f"bench: catalog: loaded {done:,}/{count:,} resources "
                f"({time.perf_counter() - started:.1f} s)",
                file=sys.stderr,
            )
        del pending
        if db.is_sqlite:
            # Settle the write-ahead log into the file, so that every run reads the same state.
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        seconds = time.perf_counter() - started
        entries = store.catalog_entries
        loaded = Loaded(
            resources=count,
            seconds=seconds,
            entries=await _count(db, entries),
            open_entries=await _count(db, entries, entries.c.in_open.is_(True)),
            search_terms=await _count(db, store.search_terms),
        )
        expected = []
        async with db.read() as conn:
            for query in data.MIX:
                where = search_filter(query)
                first_page, _ = await store.search_entries(
                    conn, where, after=None, limit=page_size(0)
                )
                every, _ = await store.search_entries(conn, where, after=None, limit=count + 100)
                expected.append(Expected([r.id for r in first_page], len(every), len(where.terms)))
        return loaded, expected
    finally:
        await db.close()


def _check_gateway(base: str, paths: list[str], expected: list[Expected]) -> int:
    """Each query matches something, and the gateway answers it with the store's first page.
    Returns the mean body size."""
    sizes = []
    for query, path, want in zip(data.MIX, paths, expected, strict=True):
        if not want.ids:
            raise TargetError(f"query {query.label()} matches nothing in the loaded catalog")
        reply = http("GET", base + path)
        if reply.status != 200:
            raise TargetError(f"GET {path} -> HTTP {reply.status}: {reply.body[:300]!r}")
        got = [str(r["id"]) for r in reply.json().get("resources", [])]
        if got != want.ids:
            raise TargetError(
                f"GET {path}: the gateway lists {len(got)} resources, not the store's "
                f"{len(want.ids)} in the same order (first {got[:3]} vs {want.ids[:3]})"
            )
        sizes.append(len(reply.body))
    return round(statistics.mean(sizes))


def _direct_run(url: str, load: LoadSettings) -> tuple[LoadResult, dict[str, Any]]:
    """One direct run in its own process: the result, and its CPU and per-query figures."""
    argv = [
        sys.executable,
        "-m",
        "bench._catalogdirect",
        "--database-url",
        url,
        "--warmup",
        str(load.warmup_s),
        "--duration",
        str(load.duration_s),
    ]
    timeout = load.warmup_s + load.duration_s + _DIRECT_GRACE_S
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")[-2000:]
        raise TargetError(f"bench._catalogdirect exited {proc.returncode}: {err}")
    out = orjson.loads(proc.stdout.strip().splitlines()[-1])
    result = LoadResult(
        tool="direct",
        requests=int(out["requests"]),
        duration_s=float(out["duration_s"]),
        bytes=0,
        p50_ms=float(out["p50_ms"]),
        p99_ms=float(out["p99_ms"]),
        non2xx=0,
        socket_errors=0,
    )
    cpu = {"direct": out["cpu_s"] / result.requests * 1e6} if result.requests else {}
    return result, {"cpu": cpu, "per_query": out["per_query"]}


def _gateway_run(
    tool: LoadTool, base: str, paths: list[str], load: LoadSettings, pids: dict[str, int]
) -> tuple[LoadResult, dict[str, Any]]:
    """Warm up (discarded), then the measured run, with the CPU time the gateway and catalog
    processes spent during it in microseconds per search."""
    kwargs: dict[str, Any] = {
        "connections": load.connections,
        "threads": load.threads,
        "expect_status": 200,
        "paths": paths,
    }
    url = base + paths[0]
    if load.warmup_s > 0:
        warm = run_load(tool, url, {}, duration_s=load.warmup_s, **kwargs)
        if warm.errors:
            print(f"bench: catalog: {warm.errors} errors during warm-up", file=sys.stderr)
    before = {p: cpu_seconds(pids[p]) for p in CPU_PROCESSES if p in pids}
    res = run_load(tool, url, {}, duration_s=load.duration_s, **kwargs)
    if res.requests == 0:
        raise TargetError(f"GET {url}: no search completed in the run")
    cpu: dict[str, float] = {}
    for proc, start in before.items():
        end = cpu_seconds(pids[proc])
        if start is not None and end is not None and res.requests > 0:
            cpu[proc] = (end - start) / res.requests * 1e6
    if len(cpu) == len(CPU_PROCESSES):
        cpu["both"] = sum(cpu[p] for p in CPU_PROCESSES)
    return res, {"cpu": cpu}


def _per_query(
    expected: list[Expected], direct_extras: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each query's direct figures over all direct runs: medians of the per-run percentiles,
    and its share of the direct side's time."""
    total_ms = sum(q["total_ms"] for extra in direct_extras for q in extra["per_query"])
    out = []
    for i, (query, want) in enumerate(zip(data.MIX, expected, strict=True)):
        runs = [extra["per_query"][i] for extra in direct_extras]
        count = sum(r["count"] for r in runs)
        spent = sum(r["total_ms"] for r in runs)
        out.append(
            {
                "query": query.label(),
                "terms": want.terms,
                "matches": want.matches,
                "searches": count,
                "mean_ms": spent / count if count else 0.0,
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "share_of_time": spent / total_ms if total_ms else 0.0,
            }
        )
    return out


def _pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns: Chinese characters take two."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(1, width - columns)


def _report(
    tool: LoadTool,
    load: LoadSettings,
    loaded: Loaded,
    body_bytes: int,
    runs: dict[str, list[LoadResult]],
    summary: dict[str, dict[str, Any]],
    cpu: dict[str, dict[str, float]],
    per_query: list[dict[str, Any]],
    ratios: dict[str, Any],
    verdict: str,
) -> None:
    direct, gateway = runs["direct"], runs["gateway"]
    print()
    print(f"== catalog: GET {SEARCH_PATH}?q=... (gateway) vs store.search_entries (direct) ==")
    print(
        f"load tool: {tool.describe()}; {load.describe()}; {len(gateway)} round(s): "
        "D G D G ... D (direct, gateway)"
    )
    print(
        f"data: {loaded.resources:,} resources loaded in {loaded.seconds:.1f} s; "
        f"{loaded.entries:,} catalog entries ({loaded.open_entries:,} open), "
        f"{loaded.search_terms:,} search terms"
    )
    print(
        f"mix: {len(data.MIX)} queries in turn, first page ({page_size(0)}) of each; gateway "
        f"bodies {body_bytes:,} bytes on average"
    )
    print("direct: one process, one search at a time, through Database.read() as the service")
    print("gw/direct: each gateway run over the mean of the direct runs around it")
    print()
    print(f"{'round':<8}{'direct':>10}{'gateway':>10}{'gw/direct':>11}")
    for i, (d, g) in enumerate(zip(direct, gateway, strict=False), start=1):
        print(f"{i:<8}{d.rps:>10.1f}{g.rps:>10.1f}{pct(ratios['per_round'][i - 1]):>11}")
    print(f"{'end':<8}{direct[-1].rps:>10.1f}")
    d_sum, g_sum = summary["direct"], summary["gateway"]
    print(f"{'median':<8}{d_sum['rps']:>10.1f}{g_sum['rps']:>10.1f}")
    print(f"{'p50 ms':<8}{d_sum['p50_ms']:>10.2f}{g_sum['p50_ms']:>10.2f}")
    print(f"{'p99 ms':<8}{d_sum['p99_ms']:>10.2f}{g_sum['p99_ms']:>10.2f}")
    print(f"{'errors':<8}{d_sum['errors']:>10d}{g_sum['errors']:>10d}")
    print(
        f"(direct latency is one search alone; the gateway's includes queueing behind "
        f"{load.connections} connections)"
    )
    if cpu["direct"] or cpu["gateway"]:
        print()
        print("CPU time per search, medians (µs; /proc/<pid>/stat around each measured run):")
        if "direct" in cpu["direct"]:
            print(f"  direct process     {cpu['direct']['direct']:>8.0f}")
        for proc in (*CPU_PROCESSES, "both"):
            if proc in cpu["gateway"]:
                print(f"  gateway run: {proc:<8}{cpu['gateway'][proc]:>6.0f}")
    print()
    print("per query, direct side (all direct runs):")
    print(
        f"  {'query':<36}{'terms':>6}{'matches':>9}{'mean ms':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'share':>8}"
    )
    for q in per_query:
        print(
            f"  {_pad(q['query'], 36)}{q['terms']:>6d}{q['matches']:>9,d}{q['mean_ms']:>9.2f}"
            f"{q['p50_ms']:>9.2f}{q['p99_ms']:>9.2f}{pct(q['share_of_time']):>8}"
        )
    print()
    print(
        f"gateway/direct: {pct(ratios['gateway/direct'])} (median of the per-round ratios; "
        f"of the median rates {pct(ratios['gateway/direct (medians)'])})"
    )
    note = " (NOT valid: errors occurred)" if g_sum["errors"] else ""
    print(f"target: gateway >= {TARGET_RPS:,.0f} req/s -> {verdict}{note}")
    error_banner({"gateway": g_sum}, what="answers other than 200")


def run(
    tool: LoadTool,
    load: LoadSettings,
    *,
    workdir: Path,
    rounds: int,
    resources: int,
    ready_timeout: float,
    logs_dest: Path,
) -> Outcome:
    platform = platform_for(workdir, ready_timeout, name="catalog-platform")
    runs: dict[str, list[LoadResult]] = {"direct": [], "gateway": []}
    extras: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
    plan = [*(["direct", "gateway"] * rounds), "direct"]
    paths = search_paths()
    try:
        print("bench: catalog: starting the platform (runtime.cli up)", file=sys.stderr)
        platform.start()
        pids = platform.pids()
        # The catalog's database as the platform's own settings name it.
        url = config.load(platform.proc.env).database_url_for("catalog")
        print(f"bench: catalog: platform up at {platform.base}; loading {url}", file=sys.stderr)
        loaded, expected = run_loop(_load_and_expect(url, resources))
        body_bytes = _check_gateway(platform.base, paths, expected)
        for name in plan:
            if name == "direct":
                res, extra = _direct_run(url, load)
            else:
                res, extra = _gateway_run(tool, platform.base, paths, load, pids)
            runs[name].append(res)
            extras[name].append(extra)
            _progress(sum(len(r) for r in runs.values()), len(plan), name, res, extra["cpu"])
    except TargetError as exc:
        return platform_failed("catalog", platform, exc, logs_dest)
    finally:
        stop_quietly(platform)

    summary = {name: median(rs) for name, rs in runs.items()}
    cpu = {name: cpu_median([e["cpu"] for e in es]) for name, es in extras.items()}
    per_query = _per_query(expected, extras["direct"])
    per_round = bracketed_ratios([r.rps for r in runs["direct"]], [r.rps for r in runs["gateway"]])
    direct_rps = summary["direct"]["rps"]
    ratios: dict[str, Any] = {
        "per_round": per_round,
        "gateway/direct": statistics.median(per_round),
        "gateway/direct (medians)": summary["gateway"]["rps"] / direct_rps if direct_rps else 0.0,
    }
    verdict = "PASS" if summary["gateway"]["rps"] >= TARGET_RPS else "FAIL"
    _report(tool, load, loaded, body_bytes, runs, summary, cpu, per_query, ratios, verdict)
    payload = {
        "benchmark": (
            f"GET {SEARCH_PATH}?q=... through the gateway vs store.search_entries on the "
            "catalog's database, alternating"
        ),
        "config": {**load.to_json(), "rounds": rounds, "resources": resources},
        "data": asdict(loaded),
        "mix": [{**q.params(), "path": p} for q, p in zip(data.MIX, paths, strict=True)],
        "body_bytes_mean": body_bytes,
        "runs": {
            name: [{**r.to_json(), **e} for r, e in zip(rs, extras[name], strict=True)]
            for name, rs in runs.items()
        },
        "median": summary,
        "cpu_us_per_search": cpu,
        "per_query": per_query,
        "ratios": ratios,
        "target": {"rule": f"gateway >= {TARGET_RPS:.0f} req/s", "verdict": verdict},
    }
    failed = summary["gateway"]["errors"] > 0
    used = {**cpu["direct"], **cpu["gateway"]}
    shown = ", ".join(f"{k} {used[k]:.0f}" for k in ("direct", *CPU_PROCESSES) if k in used)
    headline = f"gateway/direct {pct(ratios['gateway/direct'])}; CPU µs/search {shown or '-'}"
    return Outcome(payload, EXIT_LOAD_ERRORS if failed else EXIT_OK, headline)


def _progress(done: int, total: int, name: str, res: LoadResult, cpu: dict[str, float]) -> None:
    flag = f"  ERRORS: {res.errors}" if res.errors else ""
    cpu_note = "  cpu µs/search " + " ".join(f"{k} {v:.0f}" for k, v in cpu.items()) if cpu else ""
    print(
        f"bench: catalog run {done}/{total} {name:<8} {res.rps:10.1f} req/s  "
        f"p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms{cpu_note}{flag}",
        file=sys.stderr,
    )
