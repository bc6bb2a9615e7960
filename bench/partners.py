"""Scenario ``partners``: end-to-end event delivery from a committed change to a partner's receipt,
by NATS and by webhook, against raw JetStream publish and consume measured in the same run.

1. One platform (``python -m runtime.cli up``, fresh data dir, free ports). A partner client of
   its own (``POST /office/v1/clients``), entitled by bdb.admin to licence suspensions and
   resumptions, with an NKEY (its durable consumer, read by this harness with the partner's own
   credentials) and a webhook to an aiohttp receiver in this harness, on loopback. hrss.officer
   issues a pool of social security cards (not delivered: not entitled).
2. **Raw JetStream** (R), on the platform's own NATS with the platform's credentials, a stream of
   our own (``BENCH``, file storage, deleted at the end): batches of messages published with
   their acks awaited together (as the outbox relay does) while a pull consumer takes and acks
   them; messages/s end to end, publish -> consumed latency. Run before and after step 3.
3. **Most changes**: suspend/resume of the pool through the gateway as fast as the platform
   takes them (closed loop); changes/s committed, deliveries/s on each path, ratios to R.
4. **Backlog**: the partners process is paused (SIGSTOP) while changes commit, then resumed: how
   fast the fan-out and each path drain it, without the gateway in front (optional).
5. **Steady rate**: an open loop at half the rate of step 3 (the platform cannot commit half of
   R), latency from the change (its event's ``ce-time``, stamped in the transaction) to the
   partner's receipt, p50/p99 per path; the target p99 < 100 ms.

Every phase is drained before the next and checked by event id: each change delivered once on
each path, nothing lost, duplicates reported. Around steps 3 and 5 the CPU time of the platform's
processes and of this one is read from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nkeys
import orjson
import uvloop
from aiohttp import web
from nats.aio.client import Client as NatsClient

from bench.keys import thread_cpu_seconds
from bench.runner import (
    EXIT_LOAD_ERRORS,
    EXIT_OK,
    Outcome,
    cpu_seconds,
    pct,
    platform_failed,
    stop_quietly,
)
from bench.targets import (
    HOST,
    LOOPBACK_WEBHOOKS,
    PlatformProcess,
    TargetError,
    Token,
    platform_for,
)
from runtime import natsauth
from runtime.bus.events import cloudevent_headers
from runtime.storage import now_us
from services.identity.demo import CITIZEN
from services.licences.demo import sample_fields

SUSPENDED = "smartcity.licences.licence.suspended"
RESUMED = "smartcity.licences.licence.resumed"
ISSUER = "hrss.officer"
ADMIN = "bdb.admin"
DEMO_PARTNER = "demo.partner"
# one holder is issued the whole pool: a type the law does not allow once per holder
LICENCE_TYPE = "social_security_card"

DEFAULT_LICENCES = 200  # the pool suspended and resumed in turn
DEFAULT_CHANGES = 3000  # closed-loop changes in the throughput phase
DEFAULT_CONCURRENCY = 16  # changes in flight in the closed loop
DEFAULT_BACKLOG = 2000  # changes committed while the partners process is paused (0: no phase)
DEFAULT_STEADY_S = 20.0
DEFAULT_RAW_MESSAGES = 20000
RAW_WARMUP = 2000
RAW_STEADY_S = 5.0  # raw JetStream at the steady phase's rate, for its latency
RAW_BATCH = 256  # the outbox relay's batch
RAW_STREAM = "BENCH"
RAW_SUBJECT = "bench.raw.licence"
TARGET_RATIO = 0.5  # deliveries/s >= half the raw JetStream rate
TARGET_P99_MS = 100.0  # at the steady rate
DRAIN_TIMEOUT_S = 30.0  # no new receipt for this long: the rest is lost
REQUEST_TIMEOUT_S = 30.0
STATE_TIMEOUT_S = 10.0

CPU_PROCESSES = ("gateway", "licences", "partners", "nats", "keys")
PARTNERS_MAIN = "partners main"
CLIENT = "client"
PATHS = ("nats", "webhook")


# --- what a partner received -------------------------------------------------------------------


def _ce_seconds(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class Receipts:
    """One path's receipts in one phase: event id -> receipt times, and each first receipt's
    latency from the event's ``ce-time`` (stamped when the change was written)."""

    times: dict[str, list[float]] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    # NATS only: ce-time -> the copy stored on PARTNERS (the outbox relay and the fan-out)
    upstream_s: list[float] = field(default_factory=list)
    last: float = 0.0

    def add(self, event_id: str, ce_time: str, now: float, *, stored: float = 0.0) -> None:
        seen = self.times.get(event_id)
        if seen is not None:
            seen.append(now)
            return
        self.times[event_id] = [now]
        self.last = now
        if ce_time:
            changed = _ce_seconds(ce_time)
            self.latencies_s.append(now - changed)
            if stored:
                self.upstream_s.append(stored - changed)

    @property
    def unique(self) -> int:
        return len(self.times)

    @property
    def duplicates(self) -> int:
        return sum(len(t) - 1 for t in self.times.values())


def percentile_ms(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(p / 100.0 * len(ordered)) - 1))
    return ordered[rank] * 1000.0


class Partner:
    """The partner's two channels, in this process: its durable consumer on NATS and its
    webhook endpoint. Each phase swaps in fresh receipts."""

    def __init__(self) -> None:
        self.receipts = {path: Receipts() for path in PATHS}
        self.webhook_url = ""
        self._runner: web.AppRunner | None = None
        self._nc: Any = None
        self._reader: asyncio.Task[None] | None = None

    def new_phase(self) -> dict[str, Receipts]:
        self.receipts = {path: Receipts() for path in PATHS}
        return self.receipts

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        doc = orjson.loads(await request.read())
        self.receipts["webhook"].add(str(doc["id"]), str(doc.get("time") or ""), time.time())
        return web.Response(status=204)

    async def start_webhook(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.webhook_url = f"http://{HOST}:{port}/hook"

    async def start_nats(self, url: str, seed: str, access: dict[str, Any]) -> None:
        inbox = str(access["inbox_prefix"])
        last: Exception | None = None
        for _ in range(50):  # the server reloads its users after the key is registered
            try:
                self._nc = await nats.connect(
                    natsauth.without_credentials(url),
                    nkeys_seed_str=seed,
                    inbox_prefix=inbox.encode(),
                    name="bench-partner",
                )
                break
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.2)
        if self._nc is None:
            raise TargetError(f"the partner could not connect to NATS: {last!r}")
        js = self._nc.jetstream()
        sub = await js.pull_subscribe_bind(
            str(access["durable"]), stream=str(access["stream"]), inbox_prefix=f"{inbox}.".encode()
        )
        self._reader = asyncio.create_task(self._read(sub))

    async def _read(self, sub: Any) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        while True:
            try:
                msgs = await sub.fetch(256, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
            now = time.time()
            receipts = self.receipts["nats"]
            for msg in msgs:
                headers = msg.headers or {}
                receipts.add(
                    str(headers.get("ce-id", "")),
                    str(headers.get("ce-time", "")),
                    now,
                    stored=msg.metadata.timestamp.timestamp(),
                )
            await asyncio.gather(*(m.ack() for m in msgs))

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), timeout=3.0)
        if self._runner is not None:
            await self._runner.cleanup()


# --- the raw baseline --------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRun:
    messages: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "seconds": self.seconds,
            "rate": self.rate,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        }


@dataclass(frozen=True)
class RawBus:
    """Where the raw JetStream baseline runs: the platform's own NATS server, as the benchmark's
    own identity (its own subjects and stream only: runtime.natsauth.TOOLS)."""

    url: str
    seed: str

    async def connect(self, name: str) -> NatsClient:
        return await nats.connect(
            self.url,
            name=name,
            nkeys_seed_str=self.seed,
            inbox_prefix=natsauth.inbox_prefix(natsauth.BENCH),
        )


async def _raw_setup(js: Any) -> None:
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    with contextlib.suppress(NotFoundError):
        await js.delete_stream(RAW_STREAM)
    await js.add_stream(
        StreamConfig(
            name=RAW_STREAM,
            subjects=[RAW_SUBJECT],
            storage=StorageType.FILE,  # as the platform's streams
            duplicate_window=120.0,
        )
    )


async def raw_run(bus: RawBus, messages: int, *, rate: float | None = None) -> RawRun:
    """Publish ``messages`` on one connection while a pull consumer on another takes them in
    batches and acks them together (like the fan-out). Without ``rate``: as fast as it goes,
    in batches of RAW_BATCH whose acks are awaited together (like the outbox relay); with it:
    one message every 1/rate s, each ack awaited on its own. Every message carries CloudEvents
    headers and a message id (the stream deduplicates), and its publish time."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    payload = os.urandom(120)  # about a licence event's payload
    pub = await bus.connect("bench-raw-pub")
    sub_nc = await bus.connect("bench-raw-sub")
    try:
        pjs, sjs = pub.jetstream(), sub_nc.jetstream()
        await sjs.purge_stream(RAW_STREAM)
        durable = f"bench-{uuid.uuid4().hex[:8]}"
        psub = await sjs.pull_subscribe(
            RAW_SUBJECT,
            durable=durable,
            stream=RAW_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, ack_wait=30, deliver_policy=DeliverPolicy.NEW
            ),
        )
        latencies: list[float] = []
        done = asyncio.Event()
        last = 0.0

        async def consume() -> None:
            nonlocal last
            while len(latencies) < messages:
                try:
                    msgs = await psub.fetch(RAW_BATCH, timeout=1.0)
                except (NatsTimeout, TimeoutError):
                    continue
                now = time.time()
                for m in msgs:
                    latencies.append(now - float((m.headers or {})["bench-t"]))
                await asyncio.gather(*(m.ack() for m in msgs))
            last = time.time()
            done.set()

        def send() -> Awaitable[Any]:
            event_id = str(uuid.uuid4())
            headers = cloudevent_headers(
                event_id=event_id,
                subject=RAW_SUBJECT,
                source="bench",
                entity_id=event_id,
                time_us=now_us(),
                content_type="application/protobuf",
            )
            headers["bench-t"] = repr(time.time())
            return pjs.publish(RAW_SUBJECT, payload, headers=headers, timeout=5.0)

        reader = asyncio.create_task(consume())
        started = time.time()
        if rate is None:
            for first in range(0, messages, RAW_BATCH):
                await asyncio.gather(*(send() for _ in range(min(RAW_BATCH, messages - first))))
        else:
            tick = time.perf_counter()
            pending = []
            for i in range(messages):
                wait = tick + i / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                pending.append(asyncio.ensure_future(send()))
            await asyncio.gather(*pending)
        try:
            await asyncio.wait_for(done.wait(), timeout=DRAIN_TIMEOUT_S)
        except TimeoutError:
            reader.cancel()
            raise TargetError(f"raw JetStream: {len(latencies)} of {messages} consumed") from None
        with contextlib.suppress(Exception):
            await sjs.delete_consumer(RAW_STREAM, durable)
        return RawRun(
            messages=messages,
            seconds=last - started,
            p50_ms=percentile_ms(latencies, 50),
            p99_ms=percentile_ms(latencies, 99),
            max_ms=max(latencies) * 1000.0,
        )
    finally:
        for nc in (pub, sub_nc):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), timeout=3.0)


async def raw_cleanup(bus: RawBus) -> None:
    nc = await bus.connect("bench-raw-cleanup")
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(RAW_STREAM)
    finally:
        await nc.close()


# --- the platform's changes --------------------------------------------------------------------


class Pool:
    """The issued licences, each changed by one request at a time: suspended when valid,
    resumed when suspended."""

    def __init__(self, base: str, token: Token, licences: list[str]) -> None:
        self.base = base
        self.token = token
        self.free: asyncio.Queue[str] = asyncio.Queue()
        for ident in licences:
            self.free.put_nowait(ident)
        self.suspended: set[str] = set()
        self.statuses: Counter[str] = Counter()
        self.first_error = ""
        self.latencies_s: list[float] = []

    async def change(self, http: aiohttp.ClientSession) -> bool:
        ident = await self.free.get()
        action = "resume" if ident in self.suspended else "suspend"
        started = time.perf_counter()
        try:
            async with http.post(
                f"{self.base}/office/v1/licences/{ident}/{action}",
                data=b'{"reason": "bench"}',
                headers={**self.token.headers(), "Content-Type": "application/json"},
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, body = 0, repr(exc).encode()
        self.statuses[str(status)] += 1
        ok = status == 200
        if ok:
            self.latencies_s.append(time.perf_counter() - started)
            if action == "suspend":
                self.suspended.add(ident)
            else:
                self.suspended.discard(ident)
        elif not self.first_error:
            self.first_error = f"{action}: HTTP {status}: {body[:300]!r}"
        self.free.put_nowait(ident)
        return ok

    def reset_counts(self) -> None:
        self.statuses.clear()
        self.latencies_s = []

    @property
    def committed(self) -> int:
        return self.statuses["200"]

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != "200")


async def closed_loop(
    pool: Pool, http: aiohttp.ClientSession, count: int, concurrency: int
) -> None:
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await pool.change(http)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def open_loop(
    pool: Pool, http: aiohttp.ClientSession, rate: float, seconds: float
) -> tuple[int, float]:
    """A change every 1/rate s for ``seconds``, whatever the answers' latency; returns how many
    were sent and the largest lag of a start behind its schedule."""
    tasks: set[asyncio.Task[bool]] = set()
    count = max(1, round(rate * seconds))
    started = time.perf_counter()
    lag = 0.0
    for i in range(count):
        due = started + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            lag = max(lag, -wait)
        task = asyncio.create_task(pool.change(http))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return count, lag


# --- phases ------------------------------------------------------------------------------------


@dataclass
class Phase:
    """One phase: changes committed through the gateway, and each path's receipts."""

    name: str
    committed: int = 0
    errors: int = 0
    load_s: float = 0.0
    started: float = 0.0  # time.time() when the first change was sent (or the backlog released)
    receipts: dict[str, Receipts] = field(default_factory=dict)
    request_latencies_s: list[float] = field(default_factory=list)
    cpu_us: dict[str, float] = field(default_factory=dict)  # per change, by process
    cores: dict[str, float] = field(default_factory=dict)
    rate_asked: float = 0.0
    start_lag_s: float = 0.0

    @property
    def commit_rate(self) -> float:
        return self.committed / self.load_s if self.load_s > 0 else 0.0

    def delivery_rate(self, path: str) -> float:
        r = self.receipts[path]
        span = r.last - self.started
        return r.unique / span if span > 0 and r.unique else 0.0

    def lost(self, path: str) -> int:
        return max(0, self.committed - self.receipts[path].unique)

    def p(self, path: str, q: float) -> float:
        return percentile_ms(self.receipts[path].latencies_s, q)

    def max_ms(self, path: str) -> float:
        return max(self.receipts[path].latencies_s, default=0.0) * 1000.0

    def to_json(self) -> dict[str, Any]:
        return {
            "committed": self.committed,
            "errors": self.errors,
            "load_s": self.load_s,
            "commit_rate": self.commit_rate,
            "rate_asked": self.rate_asked,
            "start_lag_ms": self.start_lag_s * 1000,
            "request_p50_ms": percentile_ms(self.request_latencies_s, 50),
            "request_p99_ms": percentile_ms(self.request_latencies_s, 99),
            "paths": {
                path: {
                    "delivered": self.receipts[path].unique,
                    "duplicates": self.receipts[path].duplicates,
                    "lost": self.lost(path),
                    "rate": self.delivery_rate(path),
                    "p50_ms": self.p(path, 50),
                    "p99_ms": self.p(path, 99),
                    "max_ms": self.max_ms(path),
                }
                for path in PATHS
            },
            "commit_to_fanned_out_ms": dict(
                zip(("p50", "p99", "max"), _upstream_ms(self), strict=True)
            ),
            "cpu_us_per_change": self.cpu_us,
            "cores": self.cores,
        }


Watched = dict[str, tuple[int, int | None]]  # name -> (pid, a thread's id or None for all)


def _cpu_now(watched: Watched) -> dict[str, float | None]:
    now: dict[str, float | None] = {
        name: cpu_seconds(pid) if tid is None else thread_cpu_seconds(pid, tid)
        for name, (pid, tid) in watched.items()
    }
    now[CLIENT] = time.process_time()
    return now


async def _drain(partner: Partner, committed: int) -> None:
    """Wait until both paths have every change, or nothing new came for DRAIN_TIMEOUT_S."""
    last_seen = -1
    quiet_since = time.monotonic()
    while True:
        counts = [partner.receipts[p].unique for p in PATHS]
        if min(counts) >= committed:
            await asyncio.sleep(0.5)  # room for a duplicate to show
            return
        if sum(counts) != last_seen:
            last_seen, quiet_since = sum(counts), time.monotonic()
        elif time.monotonic() - quiet_since > DRAIN_TIMEOUT_S:
            return
        await asyncio.sleep(0.05)


async def run_phase(
    name: str,
    pool: Pool,
    partner: Partner,
    watched: Watched,
    load: Callable[[], Awaitable[Any]],
    *,
    before_load: Callable[[], None] | None = None,
    release: Callable[[], None] | None = None,
) -> Phase:
    phase = Phase(name)
    phase.receipts = partner.new_phase()
    pool.reset_counts()
    if before_load is not None:
        before_load()
    cpu_before = _cpu_now(watched)
    phase.started = time.time()
    started = time.perf_counter()
    result = await load()
    phase.load_s = time.perf_counter() - started
    if isinstance(result, tuple):
        phase.start_lag_s = float(result[1])
    if release is not None:
        await asyncio.sleep(1.0)  # the relay has published the last ones
        phase.started = time.time()
        release()
    phase.committed, phase.errors = pool.committed, pool.errors
    phase.request_latencies_s = list(pool.latencies_s)
    await _drain(partner, phase.committed)
    cpu_after = _cpu_now(watched)
    end = max(phase.receipts[p].last for p in PATHS) or time.time()
    window = end - phase.started
    for proc, after in cpu_after.items():
        before = cpu_before.get(proc)
        if before is not None and after is not None and phase.committed:
            phase.cpu_us[proc] = (after - before) / phase.committed * 1e6
            phase.cores[proc] = (after - before) / window if window > 0 else 0.0
    return phase


# --- setting up the partner ----------------------------------------------------------------------


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: Token | str | None = None,
    body: Any = None,
    expect: int = 200,
) -> Any:
    headers = {"Content-Type": "application/json"}
    if isinstance(token, Token):
        headers.update(token.headers())
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    data = orjson.dumps(body) if body is not None else None
    async with http.request(method, url, data=data, headers=headers) as resp:
        raw = await resp.read()
        if resp.status != expect:
            raise TargetError(f"{method} {url}: HTTP {resp.status}: {raw[:300]!r}")
    return orjson.loads(raw) if raw else None


async def _setup_partner(
    http: aiohttp.ClientSession, base: str, admin: Token, partner: Partner, nats_url: str
) -> dict[str, Any]:
    client_id = f"bench-{uuid.uuid4().hex[:8]}"
    created = await _call(
        http,
        "POST",
        f"{base}/office/v1/clients",
        token=admin,
        body={"client_id": client_id, "kind": "partner", "department": "msa"},
        expect=201,
    )
    login = await _call(
        http,
        "POST",
        f"{base}/partner/v1/login",
        body={"username": client_id, "password": created["client_secret"]},
    )
    token = str(login["access_token"])
    for event_type in (SUSPENDED, RESUMED):
        await _call(
            http,
            "POST",
            f"{base}/office/v1/partners/{client_id}/entitlements",
            token=admin,
            body={"event_type": event_type},
            expect=201,
        )
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public_key = nkeys.from_seed(bytearray(seed)).public_key.decode()
    access = await _call(
        http,
        "PUT",
        f"{base}/partner/v1/events/nats-key",
        token=token,
        body={"public_key": public_key},
    )
    await partner.start_nats(nats_url, seed.decode(), access)
    await partner.start_webhook()
    await _call(
        http,
        "POST",
        f"{base}/partner/v1/events/webhooks",
        token=token,
        body={"url": partner.webhook_url},
        expect=201,
    )
    # Others entitled too (the demo partner, in the embedded mode) cost the fan-out a copy each.
    others = []
    for other in (DEMO_PARTNER,):
        listed = await _call(
            http, "GET", f"{base}/office/v1/partners/{other}/entitlements", token=admin
        )
        if {SUSPENDED, RESUMED} & {e["event_type"] for e in listed.get("entitlements", [])}:
            others.append(other)
    return {"client_id": client_id, "durable": access["durable"], "also_entitled": others}


async def _issue(
    http: aiohttp.ClientSession, base: str, token: Token, count: int, concurrency: int
) -> tuple[list[str], float]:
    body = {
        "licence_type": LICENCE_TYPE,
        "fields": sample_fields(LICENCE_TYPE, CITIZEN.resident_id),
    }
    ids: list[str] = []
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            made = await _call(
                http, "POST", f"{base}/office/v1/licences", token=token, body=body, expect=201
            )
            ids.append(str(made["id"]))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return ids, time.perf_counter() - started


# --- the scenario ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnersSettings:
    licences: int = DEFAULT_LICENCES
    changes: int = DEFAULT_CHANGES
    concurrency: int = DEFAULT_CONCURRENCY
    backlog: int = DEFAULT_BACKLOG
    steady_s: float = DEFAULT_STEADY_S
    rate: float | None = None  # steady changes/s; None: half of the closed loop's commit rate
    raw_messages: int = DEFAULT_RAW_MESSAGES

    def to_json(self) -> dict[str, Any]:
        return {
            "licences": self.licences,
            "changes": self.changes,
            "concurrency": self.concurrency,
            "backlog": self.backlog,
            "steady_s": self.steady_s,
            "rate": self.rate,
            "raw_messages": self.raw_messages,
        }


@dataclass
class Runs:
    raw: list[RawRun] = field(default_factory=list)
    raw_steady: RawRun | None = None  # at the steady phase's rate
    phases: dict[str, Phase] = field(default_factory=dict)
    issued_per_s: float = 0.0


def _watched(platform: PlatformProcess) -> Watched:
    deadline = time.monotonic() + STATE_TIMEOUT_S
    pids = platform.pids()
    while not all(p in pids for p in CPU_PROCESSES) and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = platform.pids()
    watched: Watched = {p: (pids[p], None) for p in CPU_PROCESSES if p in pids}
    if "partners" in pids:
        watched[PARTNERS_MAIN] = (pids["partners"], pids["partners"])
    return watched


def _progress(text: str) -> None:
    print(f"bench: partners {text}", file=sys.stderr, flush=True)


def _phase_line(phase: Phase) -> str:
    parts = [f"{phase.committed} changes at {phase.commit_rate:,.1f}/s"]
    for path in PATHS:
        r = phase.receipts[path]
        parts.append(
            f"{path} {r.unique} ({phase.delivery_rate(path):,.1f}/s, p50 {phase.p(path, 50):.1f} "
            f"p99 {phase.p(path, 99):.1f} ms, lost {phase.lost(path)}, dup {r.duplicates})"
        )
    if phase.errors:
        parts.append(f"ERRORS {phase.errors}")
    return "; ".join(parts)


async def _measure(
    platform: PlatformProcess, settings: PartnersSettings, runs: Runs, admin: Token, issuer: Token
) -> dict[str, Any]:
    base = platform.base
    nats_url = platform.nats_url()
    raw = RawBus(nats_url, platform.nats_seed(natsauth.BENCH))
    watched = _watched(platform)
    partner = Partner()
    connector = aiohttp.TCPConnector(limit=max(settings.concurrency, 64))
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        try:
            prepared = await _setup_partner(http, base, admin, partner, nats_url)
            licences, seconds = await _issue(
                http, base, issuer, settings.licences, min(8, settings.concurrency)
            )
            runs.issued_per_s = len(licences) / seconds
            _progress(f"issued {len(licences)} licences at {runs.issued_per_s:,.1f}/s")
            pool = Pool(base, issuer, licences)

            # warm-up: every path once, not measured
            warm = await run_phase(
                "warm-up",
                pool,
                partner,
                watched,
                lambda: closed_loop(pool, http, len(licences), settings.concurrency),
            )
            runs.phases["warm-up"] = warm
            _progress(f"warm-up: {_phase_line(warm)}")
            nc = await raw.connect("bench-raw-setup")
            try:
                await _raw_setup(nc.jetstream())
            finally:
                await nc.close()
            await raw_run(raw, min(RAW_WARMUP, settings.raw_messages))
            runs.raw.append(await raw_run(raw, settings.raw_messages))
            _progress(f"raw JetStream {runs.raw[-1].rate:,.0f} msg/s")

            most = await run_phase(
                "most",
                pool,
                partner,
                watched,
                lambda: closed_loop(pool, http, settings.changes, settings.concurrency),
            )
            runs.phases["most"] = most
            _progress(f"closed loop: {_phase_line(most)}")
            runs.raw.append(await raw_run(raw, settings.raw_messages))
            _progress(f"raw JetStream {runs.raw[-1].rate:,.0f} msg/s")

            if settings.backlog:
                pid = platform.pids()["partners"]
                backlog = await run_phase(
                    "backlog",
                    pool,
                    partner,
                    watched,
                    lambda: closed_loop(pool, http, settings.backlog, settings.concurrency),
                    before_load=lambda: os.kill(pid, signal.SIGSTOP),
                    release=lambda: os.kill(pid, signal.SIGCONT),
                )
                runs.phases["backlog"] = backlog
                _progress(f"backlog: {_phase_line(backlog)}")

            rate = settings.rate or most.commit_rate / 2.0
            steady = await run_phase(
                "steady",
                pool,
                partner,
                watched,
                lambda: open_loop(pool, http, rate, settings.steady_s),
            )
            steady.rate_asked = rate
            runs.phases["steady"] = steady
            _progress(f"steady at {rate:,.1f}/s: {_phase_line(steady)}")
            steady_messages = max(1, round(rate * min(RAW_STEADY_S, settings.steady_s)))
            runs.raw_steady = await raw_run(raw, steady_messages, rate=rate)
            _progress(
                f"raw JetStream at {rate:,.1f}/s: p50 {runs.raw_steady.p50_ms:.1f} ms, "
                f"p99 {runs.raw_steady.p99_ms:.1f} ms"
            )
            if pool.first_error:
                _progress(f"first error: {pool.first_error}")
            return {**prepared, "licences": len(licences), "watched": sorted(watched)}
        finally:
            paused = platform.pids().get("partners")
            if paused:  # never leave it stopped, whatever failed
                with contextlib.suppress(OSError):
                    os.kill(paused, signal.SIGCONT)
            await partner.stop()
            with contextlib.suppress(Exception):
                await raw_cleanup(raw)


def _summary(runs: Runs) -> dict[str, Any]:
    raw = statistics.fmean(r.rate for r in runs.raw)
    most, steady = runs.phases["most"], runs.phases["steady"]
    out: dict[str, Any] = {
        "raw_rate": raw,
        "raw_p50_ms": statistics.median(r.p50_ms for r in runs.raw),
        "raw_p99_ms": statistics.median(r.p99_ms for r in runs.raw),
        "commit_rate": most.commit_rate,
        "commit/raw": most.commit_rate / raw if raw else 0.0,
    }
    for path in PATHS:
        out[f"{path}_rate"] = most.delivery_rate(path)
        out[f"{path}/raw"] = most.delivery_rate(path) / raw if raw else 0.0
        out[f"{path}/commit"] = (
            most.delivery_rate(path) / most.commit_rate if most.commit_rate else 0.0
        )
        out[f"{path}_steady_p50_ms"] = steady.p(path, 50)
        out[f"{path}_steady_p99_ms"] = steady.p(path, 99)
        if "backlog" in runs.phases:
            out[f"{path}_backlog_rate"] = runs.phases["backlog"].delivery_rate(path)
    out["steady_rate"] = steady.rate_asked
    out["throughput_ok"] = min(out["nats/raw"], out["webhook/raw"]) >= TARGET_RATIO
    out["latency_ok"] = max(out["nats_steady_p99_ms"], out["webhook_steady_p99_ms"]) < (
        TARGET_P99_MS
    )
    return out


def _cpu_line(cpu: dict[str, float], cores: dict[str, float]) -> str:
    names = [n for n in (*CPU_PROCESSES, PARTNERS_MAIN, CLIENT) if n in cpu]
    return ", ".join(f"{n} {cpu[n]:,.0f} ({cores.get(n, 0.0):.2f} cores)" for n in names)


def _request_ms(phase: Phase) -> tuple[float, float, float]:
    """The gateway's answers to the changes: p50, p99, max (ms)."""
    lat = phase.request_latencies_s
    return percentile_ms(lat, 50), percentile_ms(lat, 99), max(lat, default=0.0) * 1000.0


def _upstream_ms(phase: Phase) -> tuple[float, float, float]:
    """Commit -> the copy stored on PARTNERS (outbox relay + fan-out), from the NATS receipts."""
    up = phase.receipts["nats"].upstream_s
    return percentile_ms(up, 50), percentile_ms(up, 99), max(up, default=0.0) * 1000.0


def _row(
    label: str,
    rate: float,
    *,
    of_raw: float | None = None,
    of_commits: float | None = None,
    lat: tuple[float, float, float | None] | None = None,
) -> None:
    cells = f"{label:<36}{f'{rate:,.1f}' if rate else '':>10}"
    cells += f"{pct(of_raw) if of_raw is not None else '':>9}"
    cells += f"{pct(of_commits) if of_commits is not None else '':>12}"
    if lat is not None:
        cells += "".join(f"{v:>9.1f}" if v is not None else f"{'':>9}" for v in lat)
    print(cells)


def _report(
    settings: PartnersSettings,
    runs: Runs,
    s: dict[str, Any],
    seconds: float,
    also_entitled: list[str],
) -> None:
    print()
    print("== partners: committed change -> partner (NATS, webhook) vs raw JetStream ==")
    print(
        f"changes: suspend/resume of {settings.licences} driving licences through the gateway "
        f"({ISSUER}), {settings.changes:,} in a closed loop of {settings.concurrency}, then "
        f"{settings.steady_s:g} s open loop at {s['steady_rate']:,.1f}/s; raw: "
        f"{settings.raw_messages:,} messages in batches of {RAW_BATCH}, before and after the "
        f"closed loop; the whole scenario took {seconds:.0f} s"
    )
    copies = 1 + len(also_entitled)
    also = f" (also entitled: {', '.join(also_entitled)})" if also_entitled else ""
    print(f"each change is one event, fanned out to {copies} partner(s){also}")
    print()
    raws = ", ".join(f"{r.rate:,.0f}" for r in runs.raw)
    print(
        f"{'measurement':<36}{'per s':>10}{'of raw':>9}{'of commits':>12}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    _row(f"raw JetStream ({raws})", s["raw_rate"], lat=(s["raw_p50_ms"], s["raw_p99_ms"], None))
    most = runs.phases["most"]
    _row(
        "platform commits (closed loop)",
        s["commit_rate"],
        of_raw=s["commit/raw"],
        lat=_request_ms(most),
    )
    for path in PATHS:
        _row(
            f"  delivered by {path}",
            s[f"{path}_rate"],
            of_raw=s[f"{path}/raw"],
            of_commits=s[f"{path}/commit"],
            lat=(most.p(path, 50), most.p(path, 99), most.max_ms(path)),
        )
    _row("  commit -> copy on PARTNERS (NATS)", 0.0, lat=_upstream_ms(most))
    if "backlog" in runs.phases:
        print(f"backlog of {runs.phases['backlog'].committed}, partners paused, then resumed:")
        for path in PATHS:
            rate = s[f"{path}_backlog_rate"]
            _row(
                f"  drained by {path}",
                rate,
                of_raw=rate / s["raw_rate"],
                of_commits=rate / s["commit_rate"],
            )
    steady = runs.phases["steady"]
    _row(
        f"steady open loop ({steady.rate_asked:,.1f}/s asked)",
        steady.commit_rate,
        lat=_request_ms(steady),
    )
    for path in PATHS:
        _row(
            f"  commit -> {path}",
            steady.delivery_rate(path),
            lat=(steady.p(path, 50), steady.p(path, 99), steady.max_ms(path)),
        )
    _row("  commit -> copy on PARTNERS (NATS)", 0.0, lat=_upstream_ms(steady))
    if runs.raw_steady is not None:
        r = runs.raw_steady
        _row("  raw JetStream at that rate", r.rate, lat=(r.p50_ms, r.p99_ms, r.max_ms))
    if steady.start_lag_s > 0.05:
        print(f"  (the open loop fell {steady.start_lag_s * 1000:.0f} ms behind its schedule)")
    print()
    print(f"CPU µs per change, closed loop: {_cpu_line(most.cpu_us, most.cores)}")
    print(f"CPU µs per change, steady:      {_cpu_line(steady.cpu_us, steady.cores)}")
    print()
    print(f"{'delivery check':<14}{'changes':>9}" + "".join(f"{p + ' lost':>14}" for p in PATHS))
    for phase in runs.phases.values():
        print(
            f"{phase.name:<14}{phase.committed:>9}"
            + "".join(
                f"{f'{phase.lost(p)} (+{phase.receipts[p].duplicates} dup)':>14}" for p in PATHS
            )
        )
    print()
    slowest = min(s["nats/raw"], s["webhook/raw"])
    print(
        f"target: deliveries >= {pct(TARGET_RATIO)} of raw JetStream -> "
        f"{'PASS' if s['throughput_ok'] else 'FAIL'} (slowest path {pct(slowest)}; the platform "
        f"committed {pct(s['commit/raw'])} of raw)"
    )
    if "backlog" in runs.phases:
        drained = ", ".join(f"{p} {pct(s[f'{p}_backlog_rate'] / s['raw_rate'])}" for p in PATHS)
        print(
            f"        (informative) the fan-out onward alone, draining a backlog: {drained} of raw"
        )
    worst = max(s["nats_steady_p99_ms"], s["webhook_steady_p99_ms"])
    print(
        f"target: p99 commit -> partner < {TARGET_P99_MS:.0f} ms at {s['steady_rate']:,.1f} "
        f"changes/s -> {'PASS' if s['latency_ok'] else 'FAIL'} (worst path {worst:.1f} ms)"
    )


def run(
    settings: PartnersSettings, *, workdir: Path, ready_timeout: float, logs_dest: Path
) -> Outcome:
    platform = platform_for(
        workdir, ready_timeout, name="partners-platform", extra_env=LOOPBACK_WEBHOOKS
    )
    runs = Runs()
    started = time.monotonic()
    prepared: dict[str, Any] = {}
    try:
        _progress("starting the platform (runtime.cli up)")
        platform.start()
        _progress(f"platform up at {platform.base}")
        admin = platform.logins.login(ADMIN)
        issuer = platform.logins.login(ISSUER)
        prepared = uvloop.run(_measure(platform, settings, runs, admin, issuer))
    except TargetError as exc:
        return platform_failed("partners", platform, exc, logs_dest)
    finally:
        stop_quietly(platform)
    seconds = time.monotonic() - started
    summary = _summary(runs)
    _report(settings, runs, summary, seconds, prepared.get("also_entitled", []))
    lost = sum(p.lost(path) for p in runs.phases.values() for path in PATHS)
    errors = sum(p.errors for p in runs.phases.values())
    payload = {
        "benchmark": (
            "licence suspensions/resumptions through the gateway, delivered to a partner by NATS "
            "and webhook, vs raw JetStream publish+consume on the same server"
        ),
        "config": settings.to_json(),
        "prepared": prepared,
        "runs": {
            "raw": [r.to_json() for r in runs.raw],
            "raw_steady": runs.raw_steady.to_json() if runs.raw_steady else None,
            "issued_per_s": runs.issued_per_s,
            "phases": {name: p.to_json() for name, p in runs.phases.items()},
        },
        "summary": summary,
        "seconds": seconds,
        "target": {
            "rule": (
                f"deliveries >= {pct(TARGET_RATIO)} of raw JetStream; p99 < {TARGET_P99_MS:.0f} ms "
                "at the steady rate"
            ),
            "throughput": "PASS" if summary["throughput_ok"] else "FAIL",
            "latency": "PASS" if summary["latency_ok"] else "FAIL",
        },
    }
    used = runs.phases["most"].cpu_us
    shown = ", ".join(f"{n} {used[n]:,.0f}" for n in (*CPU_PROCESSES, CLIENT) if n in used)
    headline = (
        f"deliveries/raw JetStream: nats {pct(summary['nats/raw'])}, webhook "
        f"{pct(summary['webhook/raw'])}, lost {lost}; CPU µs/change {shown or '-'}"
    )
    return Outcome(payload, EXIT_LOAD_ERRORS if lost or errors else EXIT_OK, headline)
