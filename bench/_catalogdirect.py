"""The catalog scenario's direct side: `store.search_entries` in a loop over the query mix, on
the catalog's own database, read the way the service reads it (`Database.read()`: for SQLite
the inline reader), one search after the other in one process.

Run as ``python -m bench._catalogdirect --database-url URL --warmup S --duration S``. Prints
one JSON object: searches, seconds, p50 and p99 latency, CPU seconds, and per query of the mix
(in its order) the searches made, their total time and their p50 and p99.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from bench._catalogdata import MIX, Query, open_type_value
from runtime.loop import run, settle_heap
from runtime.pagination import page_size
from runtime.storage import Database
from services.catalog import search, store


def search_filter(query: Query) -> store.CatalogFilter:
    """The filter the catalog service builds for the same request to `SearchOpenCatalog`."""
    return store.CatalogFilter(
        open_catalog=True,
        terms=search.query_terms(query.q),
        provider_department=query.provider_department,
        open_type=open_type_value(query.open_type),
    )


def percentile_ms(sorted_s: list[float], pct: float) -> float:
    if not sorted_s:
        return 0.0
    rank = max(0, min(len(sorted_s) - 1, round(pct / 100.0 * len(sorted_s)) - 1))
    return sorted_s[rank] * 1000.0


async def _searches(url: str, *, warmup_s: float, duration_s: float) -> dict[str, Any]:
    db = Database(url, service="catalog")
    filters = [search_filter(q) for q in MIX]
    limit = page_size(0)  # the service's default page, as the gateway asks without page_size
    latencies: list[list[float]] = [[] for _ in filters]
    try:
        settle_heap()  # as the service does once started
        now = time.perf_counter()
        start, end = now + warmup_s, now + warmup_s + duration_s
        measuring = warmup_s <= 0
        cpu_start = time.process_time()
        done = 0
        while now < end:
            i = done % len(filters)
            async with db.read() as conn:
                await store.search_entries(conn, filters[i], after=None, limit=limit)
            after = time.perf_counter()
            if measuring:
                latencies[i].append(after - now)
            elif after >= start:
                measuring, start, cpu_start = True, after, time.process_time()
            done += 1
            now = after
        cpu_s = time.process_time() - cpu_start
        elapsed = now - start
    finally:
        await db.close()
    everything = sorted(s for per_query in latencies for s in per_query)
    return {
        "requests": len(everything),
        "duration_s": elapsed,
        "p50_ms": percentile_ms(everything, 50.0),
        "p99_ms": percentile_ms(everything, 99.0),
        "cpu_s": cpu_s,
        "per_query": [
            {
                "count": len(per_query),
                "total_ms": sum(per_query) * 1000.0,
                "p50_ms": percentile_ms(sorted(per_query), 50.0),
                "p99_ms": percentile_ms(sorted(per_query), 99.0),
            }
            for per_query in latencies
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    result = run(_searches(args.database_url, warmup_s=args.warmup, duration_s=args.duration))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
