"""Scenario ``keys``: the keys service's SM2 and SM4 rates against the raw library rates.

For each operation — SM2 sign, SM2 verify (key ``bench.sm2``) and SM4-GCM encrypt of 256 bytes
(key ``bench.sm4``), both keys created at the start by a security officer — four runs, in the
order raw x1, service, raw x1, raw x2, each a warm-up then a measured window:

* ``raw x1``: :mod:`bench._keysraw`, a tight loop over ``runtime.algorithms`` in one worker
  process: the way the service runs the operation (inline, on its one event-loop thread, in one
  process). This is the baseline of the ratio: each service run is compared with the mean of
  the raw x1 runs just before and after it, so a drift of the machine's speed cancels.
* ``raw x2``: the same in two worker processes at once: what both cores give.
* ``service``: :mod:`bench._keysload`, closed-loop ``grpc.aio`` client process(es) with N calls
  in flight over one channel each, calling the keys service directly (not through the gateway)
  with ``psb.officer``'s access token (a licence issuer of psb).

Around each service run the CPU time of the keys process, of its main thread (the event loop,
where every call and the cryptography run) and of the whole machine is read from ``/proc``, and
each client reports its own: a client near one full core would be the bottleneck, and is
reported. The ratio's target (the service keeps >= 50% of the raw SM2 rates) is informative and
never fails the run; errors do.

With ``--keys-profile``, one more service run per operation has py-spy attached to the keys
process; the main thread's samples are summed by category (:data:`PROFILE_CATEGORIES`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import orjson

from bench._common import SM2_MESSAGE, SM4_KEY_NAME, SM4_PLAINTEXT
from bench.runner import (
    EXIT_LOAD_ERRORS,
    EXIT_OK,
    Outcome,
    cpu_seconds,
    platform_failed,
    stop_quietly,
)
from bench.targets import ROOT, PlatformProcess, TargetError, Token, http, platform_for
from runtime import grpcclient
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

DEFAULT_ROUNDS = 1
DEFAULT_DURATION_S = 3
DEFAULT_WARMUP_S = 1
DEFAULT_CONCURRENCY = 32
TARGET_RATIO = 0.50  # the goal: the service keeps >= 50% of the raw SM2 rates
TARGET_OPS = ("sign", "verify")
RAW_WORKERS = (1, 2)
BASELINE_WORKERS = 1  # the ratio's baseline: raw x1 (see the module's docstring)
# Per operation and round: the service run between two raw x1 runs (its ratio is over their
# mean, so a drift of the machine's speed cancels), then raw x2.
PLAN = ("x1", "service", "x1", "x2")
RAW_WARMUP_S = 0.5  # at most: a tight loop needs little warming (the workers also run once first)

# The bench's own SM2 key: the demo licence-signing keys sign only through the licences service.
SIGNING_KEY = "bench.sm2"
SIGNER = "psb.officer"  # a licence_issuer of psb: the bench keys' policies grant it their uses
SECURITY_OFFICER = "bdb.admin"
SM2_KEY = {
    "name": SIGNING_KEY,
    "purpose": "sign",
    "policy": {
        "grants": [
            {"departments": ["psb"], "roles": ["licence_issuer"], "operations": ["sign", "verify"]}
        ]
    },
}
SM4_KEY = {
    "name": SM4_KEY_NAME,
    "purpose": "encrypt",
    "policy": {"grants": [{"departments": ["psb"], "operations": ["encrypt", "decrypt"]}]},
}
# What the run reports of each (`prepared`): its key, and the algorithm the service must give it.
BENCH_KEYS = {"sm2_key": (SM2_KEY, "sm2"), "sm4_key": (SM4_KEY, "sm4-gcm")}
LABELS = {
    "sign": "SM2 sign",
    "verify": "SM2 verify",
    "encrypt": "SM4-GCM encrypt 256 B",
    "sign-batch": "SM2 SignBatch of 50",
}
KEY_OF_OP = {
    "sign": SIGNING_KEY,
    "verify": SIGNING_KEY,
    "encrypt": SM4_KEY_NAME,
    "sign-batch": SIGNING_KEY,
}

READY_TIMEOUT_S = 30.0  # a worker's imports and key generation, on a loaded machine
EXIT_GRACE_S = 30.0
PROBE_TIMEOUT_S = 10.0
STATE_TIMEOUT_S = 10.0
# A client using more than this share of a core may be what limits the rate.
CLIENT_BUSY_CORES = 0.85


# --- worker processes --------------------------------------------------------------------------


class _Worker:
    """A worker process in its own session: READY on stdout, the start time on stdin, one JSON
    line on stdout at the end; stderr goes to a log file."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def fail(self, what: str) -> TargetError:
        try:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            tail = "(no log)"
        return TargetError(f"{self.name}: {what}; log tail:\n{tail}")

    def start(self, start_at: float) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{start_at!r}\n".encode())
        self.proc.stdin.flush()  # communicate() closes it

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.fail(f"no result within {timeout:.0f}s") from None
        lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
        if self.proc.returncode != 0 or not lines:
            raise self.fail(f"exited with {self.proc.returncode}")
        return dict(orjson.loads(lines[-1]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5.0)


def _wait_ready(workers: list[_Worker], timeout: float) -> None:
    """Every worker printed READY (or one failed, or the time ran out)."""
    deadline = time.monotonic() + timeout
    waiting = {w.stdout.fileno(): w for w in workers}
    with selectors.DefaultSelector() as sel:
        for fd, w in waiting.items():
            sel.register(fd, selectors.EVENT_READ, w)
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                names = ", ".join(w.name for w in waiting.values())
                raise TargetError(f"not ready after {timeout:.0f}s: {names}")
            for key, _ in sel.select(timeout=left):
                w = key.data
                line = w.stdout.readline()
                if line.strip() != b"READY":
                    w.proc.wait(timeout=5.0)
                    raise w.fail(f"said {line[:200]!r}, not READY")
                sel.unregister(key.fileobj)
                del waiting[key.fd]


def machine_busy_seconds() -> float | None:
    """CPU time the whole machine spent busy (all cores, every process), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    ticks = [int(f) for f in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS


def _cpu_times(pids: dict[str, int]) -> dict[str, float | None]:
    times: dict[str, float | None] = {"machine": machine_busy_seconds()}
    for name, pid in pids.items():
        times[name] = cpu_seconds(pid)
        # The main thread's own line (/proc/<pid>/task/<pid>/stat has the same fields).
        times[f"{name}.main"] = thread_cpu_seconds(pid, pid)
    return times


def thread_cpu_seconds(pid: int, tid: int) -> float | None:
    """User + system CPU time of one thread of a process; None when it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class _Window:
    """The measured window every worker of a run shares, and the keys process's CPU in it."""

    start_at: float
    duration_s: float
    cpu_s: dict[str, float] = field(default_factory=dict)


def _run_workers(
    workers: list[_Worker],
    *,
    warmup_s: float,
    duration_s: float,
    cpu_pids: dict[str, int],
    during: Any = None,
) -> tuple[list[dict[str, Any]], _Window]:
    """Start the workers together, read the CPU time of ``cpu_pids`` (whole processes, and
    their main threads as ``<name>.main``) at the window's ends, collect the results.
    ``during(window)`` is called once the window is set (the profiler)."""
    try:
        _wait_ready(workers, READY_TIMEOUT_S)
        window = _Window(time.time() + max(warmup_s, 0.05), duration_s)
        for w in workers:
            w.start(window.start_at)
        if during is not None:
            during(window)
        time.sleep(max(0.0, window.start_at - time.time()))
        before = _cpu_times(cpu_pids)
        time.sleep(max(0.0, window.start_at + duration_s - time.time()))
        after = _cpu_times(cpu_pids)
        for name, start in before.items():
            end = after.get(name)
            if start is not None and end is not None:
                window.cpu_s[name] = end - start
        results = [w.result(duration_s + EXIT_GRACE_S) for w in workers]
    finally:
        for w in workers:
            w.kill()
    return results, window


# --- the runs ----------------------------------------------------------------------------------


@dataclass
class RawRun:
    workers: int
    rate: float  # operations per second, all workers together
    cpu_us_per_op: float
    late_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "ops_per_s": self.rate,
            "cpu_us_per_op": self.cpu_us_per_op,
            "late_s": self.late_s,
        }


@dataclass
class ServiceRun:
    rate: float
    ok: int
    failed: dict[str, int]
    p50_ms: float
    p99_ms: float
    service_cores: float | None  # CPU seconds of the keys process per second of the window
    main_thread_cores: float | None  # the same, of its main thread (the event loop) alone
    machine_busy_cores: float | None  # the whole machine: every process, all cores
    service_cpu_us_per_op: float | None
    client_cores: list[float]  # per client process
    late_s: float
    token_of: str

    @property
    def errors(self) -> int:
        return sum(self.failed.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "ops_per_s": self.rate,
            "ok": self.ok,
            "failed": self.failed,
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "service_cores": self.service_cores,
            "main_thread_cores": self.main_thread_cores,
            "machine_busy_cores": self.machine_busy_cores,
            "service_cpu_us_per_op": self.service_cpu_us_per_op,
            "client_cores": self.client_cores,
            "late_s": self.late_s,
            "token_of": self.token_of,
        }


def _python_env() -> dict[str, str]:
    return dict(os.environ)


def raw_run(op: str, workers: int, *, warmup_s: float, duration_s: float, workdir: Path) -> RawRun:
    argv = [sys.executable, "-m", "bench._keysraw", "--op", op, "--duration", str(duration_s)]
    procs = [
        _Worker(f"raw {op} #{i}", argv, workdir / f"raw-{op}-{i}.log", _python_env())
        for i in range(workers)
    ]
    results, _ = _run_workers(procs, warmup_s=warmup_s, duration_s=duration_s, cpu_pids={})
    ops = sum(int(r["ops"]) for r in results)
    cpu = sum(float(r["cpu_s"]) for r in results)
    return RawRun(
        workers=workers,
        rate=sum(int(r["ops"]) / float(r["seconds"]) for r in results),
        cpu_us_per_op=cpu / ops * 1e6 if ops else 0.0,
        late_s=max(float(r["late_s"]) for r in results),
    )


@dataclass
class ServiceTarget:
    """Where and as whom the clients call."""

    address: str
    keys_pid: int | None
    token: Token
    signature: str  # a signature of SM2_MESSAGE by the signing key, for verify


def service_run(
    op: str,
    target: ServiceTarget,
    *,
    clients: int,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    workdir: Path,
    during: Any = None,
) -> ServiceRun:
    env = {**_python_env(), "BENCH_TOKEN": target.token.value}
    procs = []
    for i in range(clients):
        share = concurrency // clients + (1 if i < concurrency % clients else 0)
        argv = [
            sys.executable,
            "-m",
            "bench._keysload",
            "--target",
            target.address,
            "--op",
            op,
            "--key",
            KEY_OF_OP[op],
            "--concurrency",
            str(max(1, share)),
            "--duration",
            str(duration_s),
            "--signature",
            target.signature,
        ]
        procs.append(_Worker(f"client {op} #{i}", argv, workdir / f"client-{op}-{i}.log", env))
    pids = {"keys": target.keys_pid} if target.keys_pid else {}
    results, window = _run_workers(
        procs, warmup_s=warmup_s, duration_s=duration_s, cpu_pids=pids, during=during
    )
    ok = sum(int(r["ok"]) for r in results)
    failed: Counter[str] = Counter()
    for r in results:
        failed.update({str(k): int(v) for k, v in dict(r["failed"]).items()})
    keys_cpu = window.cpu_s.get("keys")
    main_cpu = window.cpu_s.get("keys.main")
    machine = window.cpu_s.get("machine")
    return ServiceRun(
        rate=ok / duration_s,
        ok=ok,
        failed=dict(failed),
        # One client: its percentiles; several: the median of theirs.
        p50_ms=statistics.median(float(r["p50_ms"]) for r in results),
        p99_ms=statistics.median(float(r["p99_ms"]) for r in results),
        service_cores=keys_cpu / duration_s if keys_cpu is not None else None,
        main_thread_cores=main_cpu / duration_s if main_cpu is not None else None,
        machine_busy_cores=machine / duration_s if machine is not None else None,
        service_cpu_us_per_op=keys_cpu / ok * 1e6 if keys_cpu is not None and ok else None,
        client_cores=[float(r["cpu_s"]) / duration_s for r in results],
        late_s=max(float(r["late_s"]) for r in results),
        token_of=target.token.username,
    )


# --- preparing the platform --------------------------------------------------------------------


def _create_key(platform: PlatformProcess, spec: dict[str, Any], algorithm: str) -> str:
    """One of the bench's own keys, created by a security officer through the gateway."""
    name = spec["name"]
    officer = platform.logins.login(SECURITY_OFFICER)
    reply = http(
        "POST", f"{platform.base}/office/v1/keys", headers=officer.headers(), json_body=spec
    )
    if reply.status == 409:
        return "exists already"
    if reply.status != 201:
        raise TargetError(f"create key {name}: HTTP {reply.status}: {reply.body[:500]!r}")
    created = reply.json()
    if created.get("algorithm") != algorithm:
        raise TargetError(f"key {name} is {created.get('algorithm')!r}, not {algorithm}")
    return f"created by {SECURITY_OFFICER}: {algorithm} v{created.get('latest_version')}"


def _keys_process(platform: PlatformProcess) -> tuple[dict[str, int], dict[str, int]]:
    """The pids and ports from the launcher's state file, which it may write a moment after
    the gateway answers /readyz."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while True:
        pids, ports = platform.pids(), platform.ports()
        if "keys" in ports and "keys" in pids:
            return pids, ports
        if time.monotonic() > deadline:
            raise TargetError(f"no keys port and pid in the launcher's state file ({ports})")
        time.sleep(0.1)


async def _probe(address: str, token: str) -> str:
    """Each call answers as it should before any load; returns a signature for verify."""
    metadata = (("authorization", f"Bearer {token}"),)
    channel = grpcclient.channel(address)
    try:
        stub = keys_pb2_grpc.KeysServiceStub(channel)
        sign = keys_pb2.SignRequest(name=SIGNING_KEY, message=SM2_MESSAGE)
        try:
            await stub.Sign(sign, timeout=PROBE_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise TargetError(f"Sign without a token: {exc.code().name}") from None
        else:
            raise TargetError("Sign without a token succeeded: authentication is not measured")
        try:
            signed = await stub.Sign(sign, metadata=metadata, timeout=PROBE_TIMEOUT_S)
            verified = await stub.Verify(
                keys_pb2.VerifyRequest(
                    name=SIGNING_KEY, message=SM2_MESSAGE, signature=signed.signature
                ),
                metadata=metadata,
                timeout=PROBE_TIMEOUT_S,
            )
            encrypted = await stub.Encrypt(
                keys_pb2.EncryptRequest(name=SM4_KEY_NAME, plaintext=SM4_PLAINTEXT),
                metadata=metadata,
                timeout=PROBE_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            raise TargetError(f"probe: {exc.code().name}: {exc.details()}") from None
        if not verified.valid:
            raise TargetError("probe: the service's own signature does not verify")
        if not str(encrypted.ciphertext).startswith(f"sc:{SM4_KEY_NAME}:v1:"):
            raise TargetError(f"probe: unexpected ciphertext {str(encrypted.ciphertext)[:60]!r}")
        return str(signed.signature)
    finally:
        await channel.close()


# --- the profile -------------------------------------------------------------------------------

# Where the keys process's main thread (the event loop: every call runs on it) spends its time:
# each sampled stack goes to the category of its innermost frame that names one. The frames are
# py-spy's ``function (path:line)``, paths relative to sys.path (``trace/__init__.py`` is the
# OpenTelemetry SDK's); with --native, also C frames (``0x... (grpc/_cython/cygrpc...so)``).
PROFILE_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting in epoll (idle)", ("epoll_wait", "epoll_pwait")),
    (
        "the SM2/SM4 call (runtime/algorithms.py, tongsuopy, cryptography)",
        ("runtime/algorithms.py", "tongsuopy", "_tongsuo", "cryptography/"),
    ),
    (
        "keyring: key config, unsealed material, SQLite reads",
        ("keys/keyring.py", "keys/store.py", "runtime/storage.py", "sqlalchemy", "sqlite"),
    ),
    ("token verification (runtime/auth.py, PyJWT)", ("runtime/auth.py", "jwt/")),
    (
        "tracing (OpenTelemetry SDK, runtime/telemetry.py)",
        (
            "opentelemetry",
            "runtime/telemetry.py",
            "trace/",
            "attributes/",
            "context/",
            "_shared_internal/",
            "runtime/spanstore.py",
        ),
    ),
    ("logging (structlog)", ("structlog", "runtime/logs.py", "logging/")),
    ("servicer and key policy (services/keys/)", ("services/keys/",)),
    (
        "our interceptor (runtime/grpcserver.py, errors)",
        ("runtime/grpcserver.py", "runtime/errors"),
    ),
    ("protobuf", ("google/protobuf", "_pb2", "_message.")),
    ("NATS and the outbox relay", ("nats/", "runtime/bus")),
    ("gRPC framework (grpc.aio, cygrpc)", ("cygrpc", "grpc/")),
    # Without --native, time in C under the loop's Python frame: gRPC's Cython core (receiving,
    # parsing and sending calls, driving their coroutines) or uvloop itself.
    ("C below the event loop: gRPC's Cython core or uvloop", ("asyncio/runners.py",)),
    (
        "event loop (asyncio, uvloop)",
        ("asyncio/", "uvloop", "loop.c", "_asynciomodule", "core.c", "linux.c"),
    ),
)
MAIN_THREAD = "MainThread"


def categorise(collapsed: str) -> dict[str, dict[str, int]]:
    """py-spy's raw output with --threads (``thread (tid): name;frame;... count`` per line,
    outermost frame first): the main thread's samples by category, and the other threads'
    samples by thread name."""
    main: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        name = thread.partition(": ")[2] or thread
        if name != MAIN_THREAD:
            threads[name] += int(count)
            continue
        category = "other"
        for frame in reversed(frames):
            found = next(
                (c for c, marks in PROFILE_CATEGORIES if any(m in frame for m in marks)), None
            )
            if found is not None:
                category = found
                break
        main[category] += int(count)
    return {"main_thread": dict(main.most_common()), "other_threads": dict(threads.most_common())}


@dataclass
class Profiler:
    """py-spy attached to the keys process during one service run per operation: Python stacks
    sampled without stopping the process (--nonblocking), or with C frames too (--native),
    which stops it at every sample: that run's rate is lower and not reported."""

    pid: int
    out_dir: Path
    binary: str
    native: bool
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @staticmethod
    def find() -> str | None:
        local = Path(sys.executable).parent / "py-spy"
        return str(local) if local.exists() else shutil.which("py-spy")

    def stacks(self, op: str) -> Path:
        return self.out_dir / f"{op}{'-native' if self.native else ''}.txt"

    def start(self, op: str, window: _Window) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        delay = max(0.0, window.start_at - time.time())
        # From the window's start (py-spy has no delay option: a shell sleep does it). Without
        # --idle, samples of a thread waiting (epoll) are left out: the main thread's samples
        # are the time it was busy.
        argv = [
            "sh",
            "-c",
            f'sleep {delay:.3f} && exec "$0" "$@"',
            self.binary,
            "record",
            "--pid",
            str(self.pid),
            "--duration",
            str(max(1, round(window.duration_s))),
            "--rate",
            "100" if self.native else "250",
            "--threads",
            "--format",
            "raw",
            "--output",
            str(self.stacks(op)),
            *(["--native"] if self.native else ["--nonblocking"]),
        ]
        with self.stacks(op).with_suffix(".py-spy.log").open("wb") as log:
            self.procs.append(subprocess.Popen(argv, stdout=log, stderr=log))

    def wait(self) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=60.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)
        self.procs.clear()

    def summary(self, op: str) -> dict[str, dict[str, int]]:
        try:
            return categorise(self.stacks(op).read_text(errors="replace"))
        except OSError:
            return {}


# --- the scenario ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeysSettings:
    ops: tuple[str, ...]
    rounds: int
    warmup_s: float
    duration_s: float
    concurrency: int
    clients: int
    profile: str | None  # None, "python" or "native"
    profile_dir: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "ops": list(self.ops),
            "rounds": self.rounds,
            "warmup_s": self.warmup_s,
            "duration_s": self.duration_s,
            "concurrency": self.concurrency,
            "clients": self.clients,
            "profile": self.profile,
            "raw_workers": list(RAW_WORKERS),
            "baseline_workers": BASELINE_WORKERS,
            "plan_per_operation": list(PLAN),
            "raw_warmup_s": min(self.warmup_s, RAW_WARMUP_S),
        }


def target_rule(ops: tuple[str, ...]) -> str:
    """The issue's target, for the SM2 operations measured in this run."""
    judged = " and ".join(LABELS[op] for op in TARGET_OPS if op in ops)
    return f"service >= {TARGET_RATIO:.0%} of raw x{BASELINE_WORKERS} for {judged}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, width: int, decimals: int, *, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{'-':>{width}}" if value is None else f"{value:>{sign}{width}.{decimals}f}"


def bracketed_ratios(raw_x1: list[float], service: list[float]) -> list[float]:
    """Each service rate over the mean of the two raw x1 rates around it (raw x1 runs come in
    pairs, one before and one after each service run)."""
    if len(raw_x1) != 2 * len(service):
        raise ValueError("two raw x1 runs per service run")
    ratios = []
    for i, rate in enumerate(service):
        around = (raw_x1[2 * i] + raw_x1[2 * i + 1]) / 2.0
        ratios.append(rate / around if around > 0 else 0.0)
    return ratios


def _summary(
    ops: tuple[str, ...], raw: dict[str, dict[int, list[RawRun]]], svc: dict[str, list[ServiceRun]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for op in ops:
        runs = svc[op]
        rate = statistics.median(r.rate for r in runs)
        entry: dict[str, Any] = {"service_ops_per_s": rate}
        for n in RAW_WORKERS:
            raw_rate = statistics.median(r.rate for r in raw[op][n])
            entry[f"raw_x{n}_ops_per_s"] = raw_rate
            entry[f"service/raw_x{n}"] = rate / raw_rate if raw_rate > 0 else 0.0
        # The baseline's: each service run over the mean of the raw x1 runs just before and
        # after it, the median over rounds (for x1, the ratio of the medians is kept apart).
        per_round = bracketed_ratios([r.rate for r in raw[op][1]], [r.rate for r in runs])
        entry["service/raw_x1 (medians)"] = entry["service/raw_x1"]
        entry["service/raw_x1"] = statistics.median(per_round)
        entry["service/raw_x1 per round"] = per_round
        entry["raw_cpu_us_per_op"] = statistics.median(r.cpu_us_per_op for r in raw[op][1])
        cpu = [r.service_cpu_us_per_op for r in runs if r.service_cpu_us_per_op is not None]
        entry["service_cpu_us_per_op"] = statistics.median(cpu) if cpu else None
        cores = [r.service_cores for r in runs if r.service_cores is not None]
        entry["service_cores"] = statistics.median(cores) if cores else None
        main = [r.main_thread_cores for r in runs if r.main_thread_cores is not None]
        entry["main_thread_cores"] = statistics.median(main) if main else None
        busy = [r.machine_busy_cores for r in runs if r.machine_busy_cores is not None]
        entry["machine_busy_cores"] = statistics.median(busy) if busy else None
        # What the ratio would be if the CPU time per operation were all that counted.
        entry["service/raw_x1 (cpu)"] = (
            entry["raw_cpu_us_per_op"] / entry["service_cpu_us_per_op"]
            if entry["service_cpu_us_per_op"]
            else None
        )
        entry["client_cores_max"] = max(max(r.client_cores) for r in runs)
        entry["p50_ms"] = statistics.median(r.p50_ms for r in runs)
        entry["p99_ms"] = statistics.median(r.p99_ms for r in runs)
        entry["errors"] = sum(r.errors for r in runs)
        entry["failed"] = dict(sum((Counter(r.failed) for r in runs), Counter()))
        out[op] = entry
    return out


def _report(
    settings: KeysSettings, summary: dict[str, dict[str, Any]], verdict: str | None
) -> None:
    print()
    print("== keys: SM2 sign/verify, SM4-GCM encrypt: raw library vs the keys service (gRPC) ==")
    print(
        "raw x1: runtime.algorithms in a tight loop, one worker process, one thread (as\n"
        "  the service runs it, inline on its event loop): the ratios' baseline\n"
        "raw x2: two such worker processes at once (what both cores give)"
    )
    print(
        f"service: {settings.clients} grpc.aio client process(es), {settings.concurrency} calls "
        f"in flight in all, one channel each,\n  {SIGNER}'s token, straight to the keys service "
        "(not through the gateway)"
    )
    print(
        f"per operation and round: raw x1, service, raw x1, raw x2;\n{settings.duration_s}s "
        f"measured per run after a warm-up (service {settings.warmup_s}s, raw "
        f"{min(settings.warmup_s, RAW_WARMUP_S)}s); {settings.rounds} round(s), medians; "
        "rates in operations/s\n"
        "svc/x1: each service run over the mean of the raw x1 runs around it; svc/x2: over "
        "the raw x2 rate"
    )
    print()
    head = (
        f"{'operation':<22}{'raw x1':>9}{'raw x2':>9}{'service':>9}{'svc/x1':>8}{'svc/x2':>8}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
    )
    print(head)
    for op, s in summary.items():
        print(
            f"{LABELS[op]:<22}{s['raw_x1_ops_per_s']:>9.0f}{s['raw_x2_ops_per_s']:>9.0f}"
            f"{s['service_ops_per_s']:>9.0f}{_pct(s['service/raw_x1']):>8}"
            f"{_pct(s['service/raw_x2']):>8}{s['p50_ms']:>8.1f}{s['p99_ms']:>8.1f}"
            f"{s['errors']:>7d}"
        )
    print()
    print(
        "CPU time per operation (µs; raw: the x1 worker, service: the keys process, all threads)\n"
        "and cores used in the service runs (keys process; its main thread, the event loop;\n"
        "the busiest client process; the whole machine, every process), medians:"
    )
    print(
        f"{'operation':<22}{'raw':>7}{'service':>9}{'extra':>8}{'by CPU':>8}"
        f"{'keys':>7}{'main':>7}{'client':>8}{'machine':>9}"
    )
    for op, s in summary.items():
        svc_us = s["service_cpu_us_per_op"]
        extra = None if svc_us is None else svc_us - s["raw_cpu_us_per_op"]
        print(
            f"{LABELS[op]:<22}{s['raw_cpu_us_per_op']:>7.0f}{_num(svc_us, 9, 0)}"
            f"{_num(extra, 8, 0, signed=True)}"
            f"{_pct(s['service/raw_x1 (cpu)']):>8}{_num(s['service_cores'], 7, 2)}"
            f"{_num(s['main_thread_cores'], 7, 2)}{s['client_cores_max']:>8.2f}"
            f"{_num(s['machine_busy_cores'], 9, 2)}"
        )
    print("(by CPU: raw CPU per operation / service CPU per operation)")
    if settings.rounds > 1:
        print()
        for op, s in summary.items():
            listed = ", ".join(_pct(r) for r in s["service/raw_x1 per round"])
            print(
                f"{LABELS[op]}: svc/x1 per round {listed}; of the median rates "
                f"{_pct(s['service/raw_x1 (medians)'])}"
            )
    busy = [op for op, s in summary.items() if s["client_cores_max"] > CLIENT_BUSY_CORES]
    if busy:
        print(
            f"note: a client used more than {CLIENT_BUSY_CORES:.2f} of a core for "
            f"{', '.join(LABELS[o] for o in busy)}: it may be the bottleneck (--keys-clients 2)"
        )
    if verdict is not None:
        invalid = any(summary[op]["errors"] for op in TARGET_OPS if op in summary)
        note = " (NOT valid: errors occurred)" if invalid else ""
        print(f"target: {target_rule(tuple(summary))} -> {verdict}{note}")
    errors = {op: s for op, s in summary.items() if s["errors"]}
    if errors:
        print()
        print("!" * 72)
        for op, s in errors.items():
            print(f"!! ERRORS: {LABELS[op]}: {s['failed']} — its numbers are NOT valid")
        print("!" * 72)


def _print_profile(
    profiles: dict[str, dict[str, dict[str, int]]], mode: str, out_dir: Path
) -> None:
    print()
    how = "--native (stops the process per sample)" if mode == "native" else "--nonblocking"
    print(
        f"profile of the keys process: py-spy record --threads {how}, one more service run per "
        f"operation (its rate is not reported); stacks in {out_dir}"
    )
    print("main thread's busy samples by the innermost frame that names a category:")
    for op, found in profiles.items():
        main, others = found.get("main_thread", {}), found.get("other_threads", {})
        total = sum(main.values())
        if not total:
            print(f"  {LABELS[op]}: no samples of the main thread (see {out_dir}/*.py-spy.log)")
            continue
        print(f"  {LABELS[op]} ({total} samples of the main thread):")
        for cat, n in main.items():
            print(f"    {n / total * 100:5.1f}%  {cat}")
        if others:
            listed = ", ".join(f"{name} {n}" for name, n in others.items())
            print(f"    other threads' busy samples: {listed}")


# Complex on purpose: one benchmark's phases in order; split, the measured sequence scatters.
def run(settings: KeysSettings, *, workdir: Path, ready_timeout: float, logs_dest: Path) -> Outcome:  # noqa: C901 (one benchmark's phases in order: split, the measured sequence scatters)  # noqa: C901
    platform = platform_for(workdir, ready_timeout, name="keys-platform")
    raw: dict[str, dict[int, list[RawRun]]] = {
        op: {n: [] for n in RAW_WORKERS} for op in settings.ops
    }
    svc: dict[str, list[ServiceRun]] = {op: [] for op in settings.ops}
    profiles: dict[str, dict[str, dict[str, int]]] = {}
    prepared: dict[str, Any] = {}
    total = settings.rounds * len(settings.ops) * len(PLAN)
    done = 0

    def progress(what: str, rate: float, extra: str = "") -> None:
        nonlocal done
        done += 1
        print(
            f"bench: keys run {done}/{total} {what:<32} {rate:10.1f} ops/s{extra}", file=sys.stderr
        )

    try:
        print("bench: keys: starting the platform (runtime.cli up)", file=sys.stderr)
        started = time.monotonic()
        platform.start()
        pids, ports = _keys_process(platform)
        address = f"127.0.0.1:{ports['keys']}"
        prepared["platform_start_s"] = round(time.monotonic() - started, 1)
        print(
            f"bench: keys: platform up at {platform.base}, keys at {address} "
            f"(pid {pids.get('keys')}), {prepared['platform_start_s']}s",
            file=sys.stderr,
        )
        for label, (spec, algorithm) in BENCH_KEYS.items():
            prepared[label] = _create_key(platform, spec, algorithm)
        token = platform.logins.login(SIGNER)
        signature = asyncio.run(_probe(address, token.value))
        target = ServiceTarget(address, pids.get("keys"), token, signature)
        timing = {"warmup_s": settings.warmup_s, "duration_s": settings.duration_s}
        raw_timing = {
            "warmup_s": min(settings.warmup_s, RAW_WARMUP_S),
            "duration_s": settings.duration_s,
        }
        for rnd in range(1, settings.rounds + 1):
            for op in settings.ops:
                for step in PLAN:
                    if step != "service":
                        n = int(step[-1])
                        r = raw_run(op, n, workdir=workdir, **raw_timing)
                        raw[op][n].append(r)
                        progress(f"round {rnd} {LABELS[op]} raw x{n}", r.rate)
                        continue
                    # Tokens live 300 s: renew at half the lifetime (never mid-run).
                    if target.token.age_s >= target.token.lifetime_s / 2.0:
                        target.token = platform.logins.login(SIGNER)
                    s = service_run(
                        op,
                        target,
                        clients=settings.clients,
                        concurrency=settings.concurrency,
                        workdir=workdir,
                        **timing,
                    )
                    svc[op].append(s)
                    cores = f" keys {s.service_cores:.2f} cores" if s.service_cores else ""
                    if s.machine_busy_cores is not None:
                        cores += f" machine {s.machine_busy_cores:.2f}"
                    flag = f"  ERRORS: {s.failed}" if s.errors else ""
                    progress(
                        f"round {rnd} {LABELS[op]} service",
                        s.rate,
                        f"  p50 {s.p50_ms:.1f} ms p99 {s.p99_ms:.1f} ms{cores} "
                        f"client {max(s.client_cores):.2f} cores{flag}",
                    )
        if settings.profile is not None:
            binary = Profiler.find()
            if binary is None or target.keys_pid is None:
                print("bench: keys: no py-spy or no keys pid: no profile", file=sys.stderr)
            else:
                profiler = Profiler(
                    target.keys_pid,
                    settings.profile_dir,
                    binary,
                    native=settings.profile == "native",
                )
                for op in settings.ops:
                    if target.token.age_s >= target.token.lifetime_s / 2.0:
                        target.token = platform.logins.login(SIGNER)
                    service_run(
                        op,
                        target,
                        clients=settings.clients,
                        concurrency=settings.concurrency,
                        workdir=workdir,
                        during=lambda w, op=op: profiler.start(op, w),
                        **timing,
                    )
                    profiler.wait()
                    profiles[op] = profiler.summary(op)
    except TargetError as exc:
        return platform_failed("keys", platform, exc, logs_dest, prepared=prepared)
    finally:
        stop_quietly(platform)

    summary = _summary(settings.ops, raw, svc)
    ratios = [summary[op][f"service/raw_x{BASELINE_WORKERS}"] for op in TARGET_OPS if op in summary]
    verdict = ("PASS" if min(ratios) >= TARGET_RATIO else "FAIL") if ratios else None
    _report(settings, summary, verdict)
    if profiles and settings.profile is not None:
        _print_profile(profiles, settings.profile, settings.profile_dir)
    payload = {
        "benchmark": (
            "SM2 sign/verify and SM4-GCM encrypt (256 B): runtime.algorithms in-process vs "
            "the keys service over gRPC"
        ),
        "config": settings.to_json(),
        "prepared": prepared,
        "runs": {
            op: {
                **{f"raw_x{n}": [r.to_json() for r in raw[op][n]] for n in RAW_WORKERS},
                "service": [r.to_json() for r in svc[op]],
            }
            for op in settings.ops
        },
        "median": summary,
        "profile": profiles,
        "target": {
            "rule": target_rule(settings.ops),
            "verdict": verdict,
        },
    }
    failed = any(s["errors"] for s in summary.values())
    return Outcome(payload, EXIT_LOAD_ERRORS if failed else EXIT_OK, _headline(summary))


def _headline(summary: dict[str, dict[str, Any]]) -> str:
    ratios = ", ".join(f"{op} {_pct(s['service/raw_x1'])}" for op, s in summary.items())
    cpu = ", ".join(
        f"{op} {_num(s['service_cpu_us_per_op'], 1, 0).strip()} ({s['raw_cpu_us_per_op']:.0f})"
        for op, s in summary.items()
    )
    return f"service/raw x1: {ratios}; CPU µs/op service (raw): {cpu}"
