"""Fallback closed-loop HTTP load generator (used only when wrk is unavailable).

N workers share one keep-alive connection pool; each sends its next request as soon as
the previous answer is read, until the duration is over. Prints one JSON object.

Run as ``python -m bench._pyload --url U --connections N --duration S [--header 'K: V']
[--method M] [--body-file F] [--expect-status CODE] [--path P ...]``; with ``--expect-status``
every other status counts as an error, otherwise every non-2xx. With ``--path`` (repeated), the
requests go to these paths in turn on U's host and port.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import orjson
import uvloop

_REQUEST_TIMEOUT_S = 10.0
_GRACE_S = 30.0


class _Tally:
    def __init__(self) -> None:
        self.latencies_s: list[float] = []
        self.non2xx = 0
        self.statuses: dict[int, int] = {}  # the failed answers by status
        self.socket_errors = 0
        self.bytes = 0


@dataclass(frozen=True)
class _Request:
    urls: Iterator[str]  # shared by the workers: one URL, or several taken in turn
    headers: dict[str, str]
    method: str
    body: bytes | None
    expect_status: int | None

    def failed(self, status: int) -> bool:
        if self.expect_status is not None:
            return status != self.expect_status
        return not 200 <= status < 300


async def _worker(
    session: aiohttp.ClientSession, req: _Request, deadline: float, t: _Tally
) -> None:
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            async with session.request(
                req.method, next(req.urls), headers=req.headers, data=req.body
            ) as resp:
                data = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            t.socket_errors += 1
            continue
        t.latencies_s.append(time.perf_counter() - start)
        t.bytes += len(data)
        if req.failed(status):
            t.non2xx += 1
            t.statuses[status] = t.statuses.get(status, 0) + 1


def _percentile_ms(sorted_s: list[float], pct: float) -> float:
    if not sorted_s:
        return 0.0
    rank = max(0, min(len(sorted_s) - 1, round(pct / 100.0 * len(sorted_s)) - 1))
    return sorted_s[rank] * 1000.0


async def _run(req: _Request, connections: int, duration: float) -> None:
    tally = _Tally()
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT_S)
    # trust_env=False (the default) keeps any proxy settings from redirecting traffic.
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + duration
        workers = [_worker(session, req, deadline, tally) for _ in range(connections)]
        await asyncio.wait_for(asyncio.gather(*workers), duration + _GRACE_S)
        elapsed = time.perf_counter() - start
    lat = sorted(tally.latencies_s)
    result = {
        "requests": len(lat),
        "duration_s": elapsed,
        "bytes": tally.bytes,
        "p50_ms": _percentile_ms(lat, 50.0),
        "p99_ms": _percentile_ms(lat, 99.0),
        "non2xx": tally.non2xx,
        "socket_errors": tally.socket_errors,
        "statuses": {str(code): n for code, n in tally.statuses.items()},
    }
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body-file", type=Path, help="the request body, sent as is")
    parser.add_argument("--expect-status", type=int, help="the only status that is not an error")
    parser.add_argument(
        "--path", action="append", default=[], help="a path on --url's host (repeat: in turn)"
    )
    args = parser.parse_args()
    headers: dict[str, str] = {}
    for raw in args.header:
        name, _, value = raw.partition(":")
        headers[name.strip()] = value.strip()
    body = args.body_file.read_bytes() if args.body_file is not None else None
    urls = [urljoin(args.url, path) for path in args.path] or [args.url]
    req = _Request(itertools.cycle(urls), headers, args.method, body, args.expect_status)
    uvloop.run(_run(req, args.connections, args.duration))


if __name__ == "__main__":
    main()
