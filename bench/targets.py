"""Starting and stopping the three benchmark targets.

* ``bare``: :mod:`bench._bare`, one aiohttp process returning the fixed JSON body.
* ``hop``: :mod:`bench._echo` (gRPC echo) and :mod:`bench._hop` (aiohttp calling it),
  two processes, like the real gateway and service.
* ``real``: the platform via ``python -m runtime.cli up``, measured with an authenticated
  ``GET /office/v1/catalog/resources/<id>``.

:class:`PlatformProcess` (the launcher) and :class:`StaffLogins` (staff sign-in with the demo
TOTP) are shared with the other scenarios; :func:`platform_for` gives a scenario its platform:
its own, or in a smoke run the one platform every scenario shares (:func:`shared_platform`).

Every child runs in its own session so its whole process group can be killed; every wait
is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from runtime import config
from services.catalog.demo import DEPARTMENT_CODES
from services.identity import demo, totp

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

SERVER_START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 10.0

# Set explicitly for every platform the bench starts: an SMARTCITY_DEMO_PASSWORD in the caller's
# environment must not break the sign-ins.
DEMO_PASSWORD = "smartcity-demo"
# The demo staff (services.identity.domain.DEMO_STAFF): each may use a TOTP code once per
# 30-second step, so several sign-ins in a row take turns.
STAFF_ACCOUNTS = ("bdb.admin", "bdb.auditor", "psb.officer", "hrss.officer", "msa.officer")
REAL_ACCOUNT = "psb.officer"  # a catalog officer of the resource's department
# Without these the gateway answers 429 after a handful of logins (30/min per client, 5/min per
# account): the identity scenario's login run would measure the limiter, and a smoke run signs
# in many times from one address.
RELAXED_LOGIN_LIMITS = {
    "SMARTCITY_RATE_LOGIN_PER_CLIENT": "10000/s",
    "SMARTCITY_RATE_LOGIN_PER_ACCOUNT": "10000/s",
}
# The partners scenario's webhook receiver listens on loopback, which a platform refuses to post
# to unless told (webhooks to private addresses are an SSRF vector).
LOOPBACK_WEBHOOKS = {"SMARTCITY_WEBHOOK_ALLOW_PRIVATE": "true"}
# A draft the catalog accepts; its code is set by the server (a code sent would be refused).
RESOURCE: dict[str, Any] = {
    "name": "Bench resource",
    "provider_department": "psb",
    "provider_code": DEPARTMENT_CODES["psb"],
    "classification": {"category": "3", "item": "01", "sub_item": "001"},
    "summary": "for the benchmark",
    "format": "database",
    "share_type": "unconditional",
    "share_methods": ["interface"],
    "open_type": "not_open",
    "update_cycle": "daily",
    "data_grade": "internal",
    "data_items": [{"name": "plate", "type": "string", "description": "vehicle plate"}],
}

# An explicit empty ProxyHandler: http_proxy & co. must never route loopback traffic away.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class TargetError(RuntimeError):
    """A target could not be started or prepared."""


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Endpoint:
    """What the load tool hits: one URL plus request headers (and a method and body)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    body: bytes | None = None


def free_port() -> int:
    """A port that was free a moment ago (bind to 0 on loopback, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    data: bytes | None = None,
    timeout: float = HTTP_TIMEOUT_S,
) -> HttpReply:
    """One HTTP request to loopback; non-2xx answers are returned, not raised. ``json_body``
    is sent as JSON; ``data`` as is (with the caller's Content-Type)."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"bench only talks to http://{HOST}, not {url!r}")
    if json_body is not None:
        data = orjson.dumps(json_body)
    req = urllib.request.Request(  # noqa: S310 - scheme and host checked above
        url, data=data, method=method, headers=dict(headers or {})
    )
    if data is not None and not req.has_header("Content-type"):
        req.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return HttpReply(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        return HttpReply(exc.code, dict(exc.headers.items()), exc.read())


def wait_tcp(port: int, timeout: float, proc: ManagedProcess | None = None) -> None:
    """Wait until something accepts TCP connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check_alive()
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1.0):
            return
        time.sleep(0.1)
    raise TargetError(f"nothing listening on {HOST}:{port} after {timeout:.0f}s")


def wait_http_ok(
    url: str, timeout: float, proc: ManagedProcess, headers: dict[str, str] | None = None
) -> None:
    """Wait until ``GET url`` answers 200, failing fast if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        proc.check_alive()
        try:
            reply = http("GET", url, headers=headers, timeout=2.0)
            if reply.status == 200:
                return
            last = f"HTTP {reply.status}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise TargetError(f"GET {url} not 200 after {timeout:.0f}s (last: {last})")


class ManagedProcess:
    """A child process in its own session, logged to a file, always reaped on stop()."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise TargetError(
                f"{self.name} exited with {self.proc.returncode}; log tail:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> None:
        """Signal the process, wait (bounded), then SIGKILL whatever is left of its group."""
        proc = self.proc
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the child leads its own process group
        try:
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    print(f"bench: {self.name} ignored {sig.name}; killing", file=sys.stderr)
        finally:
            # Also reaps grandchildren (nats-server, services) the leader left behind.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)
            self.proc = None


def _child_env() -> dict[str, str]:
    # Children run with cwd=ROOT, so `python -m bench._x` / `runtime.cli` import from the tree.
    return dict(os.environ)


class BareTarget:
    """A bare aiohttp server returning ``body``."""

    name = "bare"

    def __init__(self, workdir: Path, body_file: Path, content_type: str) -> None:
        self.port = free_port()
        self.proc = ManagedProcess(
            "bare",
            [
                sys.executable,
                "-m",
                "bench._bare",
                "--port",
                str(self.port),
                "--body-file",
                str(body_file),
                "--content-type",
                content_type,
            ],
            workdir / "bare.log",
            _child_env(),
        )

    def start(self) -> None:
        self.proc.start()
        wait_http_ok(self.endpoint().url, SERVER_START_TIMEOUT_S, self.proc)

    def endpoint(self) -> Endpoint:
        return Endpoint(f"http://{HOST}:{self.port}/bench")

    def pids(self) -> dict[str, int]:
        return {"bare": self.proc.proc.pid} if self.proc.proc is not None else {}

    def stop(self) -> None:
        self.proc.stop()


class HopTarget:
    """A bare aiohttp server whose handler makes one grpc.aio call to a bare echo server."""

    name = "hop"

    def __init__(self, workdir: Path, body_file: Path, content_type: str) -> None:
        self.echo_port = free_port()
        self.port = free_port()
        env = _child_env()
        self.echo = ManagedProcess(
            "echo",
            [sys.executable, "-m", "bench._echo", "--port", str(self.echo_port)],
            workdir / "echo.log",
            env,
        )
        self.hop = ManagedProcess(
            "hop",
            [
                sys.executable,
                "-m",
                "bench._hop",
                "--port",
                str(self.port),
                "--echo-port",
                str(self.echo_port),
                "--body-file",
                str(body_file),
                "--content-type",
                content_type,
            ],
            workdir / "hop.log",
            env,
        )

    def start(self) -> None:
        self.echo.start()
        wait_tcp(self.echo_port, SERVER_START_TIMEOUT_S, self.echo)
        self.hop.start()
        wait_http_ok(self.endpoint().url, SERVER_START_TIMEOUT_S, self.hop)

    def endpoint(self) -> Endpoint:
        return Endpoint(f"http://{HOST}:{self.port}/bench")

    def pids(self) -> dict[str, int]:
        procs = {"hop": self.hop.proc, "echo": self.echo.proc}
        return {name: proc.pid for name, proc in procs.items() if proc is not None}

    def stop(self) -> None:
        try:
            self.hop.stop()
        finally:
            self.echo.stop()


@dataclass(frozen=True)
class Token:
    """An access token and when it was obtained."""

    value: str
    username: str
    obtained_at: float  # time.monotonic()
    lifetime_s: float

    @property
    def age_s(self) -> float:
        return time.monotonic() - self.obtained_at

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.value}"}

    @classmethod
    def from_login(cls, data: dict[str, Any], *, username: str) -> Token:
        """The token of a login's JSON answer, obtained now."""
        return cls(
            value=str(data["access_token"]),
            username=username,
            obtained_at=time.monotonic(),
            lifetime_s=float(data.get("expires_in") or 300),
        )


class StaffLogins:
    """Staff sign-in at ``/office/v1/login`` with the demo TOTP.

    A code is accepted once per account and 30-second step (replays are refused), so this
    remembers the step each account last used: asked for any account, it takes the next one
    in turn that has not used the current step; asked for one account (or when all have), it
    waits for the next step. With ``reuse``, a token obtained less than half its lifetime ago
    is given again instead (a smoke run's scenarios share one platform and would otherwise wait
    for a step at almost every sign-in).
    """

    def __init__(
        self,
        base: str,
        *,
        password: str = DEMO_PASSWORD,
        accounts: Sequence[str] = STAFF_ACCOUNTS,
        reuse: bool = False,
    ) -> None:
        self.base = base
        self.password = password
        self.accounts = tuple(accounts)
        self.reuse = reuse
        self._last_step: dict[str, int] = {}
        self._turn = 0
        self._tokens: dict[str, Token] = {}

    def _reusable(self, username: str | None) -> Token | None:
        if not self.reuse:
            return None
        names = [username] if username is not None else list(self.accounts)
        for name in names:
            token = self._tokens.get(name)
            if token is not None and token.age_s < token.lifetime_s / 2.0:
                return token
        return None

    def _pick(self, username: str | None, step: int) -> str | None:
        if username is not None:
            return username if self._last_step.get(username, -1) < step else None
        for i in range(len(self.accounts)):
            name = self.accounts[(self._turn + i) % len(self.accounts)]
            if self._last_step.get(name, -1) < step:
                self._turn = (self._turn + i + 1) % len(self.accounts)
                return name
        return None

    def login(self, username: str | None = None) -> Token:
        """A fresh access token for ``username``, or for the next demo staff account."""
        reusable = self._reusable(username)
        if reusable is not None:
            return reusable
        while True:
            now = time.time()
            step = int(now // totp.STEP_SECONDS)
            name = self._pick(username, step)
            if name is not None:
                break
            time.sleep((step + 1) * totp.STEP_SECONDS - now + 0.05)
        code = totp.code_at(demo.totp_secret(self.password, name), now)
        # Spent whatever the answer: a code the server saw may not be offered again.
        self._last_step[name] = step
        body = {"username": name, "password": self.password, "totp_code": code}
        reply = http("POST", f"{self.base}/office/v1/login", json_body=body)
        if reply.status != 200:
            raise TargetError(f"staff login {name}: HTTP {reply.status}: {reply.body[:500]!r}")
        token = Token.from_login(reply.json(), username=name)
        self._tokens[name] = token
        return token


class PlatformProcess:
    """The whole platform, started with the project's launcher (``python -m runtime.cli up``)
    on free loopback ports with a fresh data directory under ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        ready_timeout: float,
        *,
        name: str = "launcher",
        extra_env: Mapping[str, str] | None = None,
        reuse_tokens: bool = False,
    ) -> None:
        self.name = name
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=workdir))
        self.launcher_log = workdir / f"{name}.log"
        env = _child_env()
        env.update(
            {
                "SMARTCITY_DATA_DIR": str(self.data_dir),
                "SMARTCITY_GATEWAY_PORT": str(self.port),
                # 0 = the launcher picks free ports itself, for NATS and every service.
                "SMARTCITY_NATS_PORT": "0",
                **{f"SMARTCITY_{svc.upper()}_PORT": "0" for svc in config.SERVICES},
                # The default level: the access log is part of the measured path.
                "SMARTCITY_LOG_LEVEL": "info",
                "SMARTCITY_DEMO_PASSWORD": DEMO_PASSWORD,
                **(extra_env or {}),
            }
        )
        self.proc = ManagedProcess(
            name, [sys.executable, "-m", "runtime.cli", "up"], self.launcher_log, env
        )
        self.extra_env = dict(extra_env or {})
        self.logins = StaffLogins(self.base, reuse=reuse_tokens)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.proc.start()
        wait_http_ok(f"{self.base}/readyz", self.ready_timeout, self.proc)

    def pids(self) -> dict[str, int]:
        """The pid of each process (gateway, identity, ...) from the launcher's state file."""
        try:
            state = orjson.loads((self.data_dir / "run" / "platform.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        return {str(k): int(v) for k, v in dict(state.get("pids") or {}).items()}

    def ports(self) -> dict[str, int]:
        """The port of each process (gateway, keys, ...) from the launcher's state file."""
        try:
            state = orjson.loads((self.data_dir / "run" / "platform.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        return {str(k): int(v) for k, v in dict(state.get("ports") or {}).items()}

    def nats_url(self) -> str:
        """The embedded NATS server's URL (each process and tool signs in with its own NKEY)."""
        port = self.ports().get("nats")
        if not port:
            raise TargetError("the platform's NATS URL: no port yet")
        return f"nats://{HOST}:{port}"

    def nats_seed(self, identity: str) -> str:
        """The seed of one of the embedded NATS identities `smartcity up` made (a process's,
        or a tool's: runtime.natsauth.TOOLS)."""
        from runtime import natsauth

        seed = natsauth.seed(self.data_dir / "nats", identity)
        if not seed:
            raise TargetError(f"no embedded NATS identity {identity!r} yet")
        return seed

    def save_logs(self, dest: Path) -> Path:
        """Copy the launcher's and every process's log to ``dest`` (the data dir is temporary)."""
        dest.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copy2(self.launcher_log, dest / self.launcher_log.name)
        logs = self.data_dir / "logs"
        if logs.is_dir():
            shutil.copytree(logs, dest / "logs", dirs_exist_ok=True)
        return dest

    def stop(self) -> None:
        # SIGINT is the launcher's Ctrl-C path: it shuts its children down in order.
        self.proc.stop(signal.SIGINT)


class SharedPlatform(PlatformProcess):
    """The platform every scenario of a smoke run uses: started by the first scenario that
    asks, stopped once at the end of the run (a scenario's ``stop()`` leaves it running). It has
    every scenario's settings (login limits relaxed, webhooks to loopback allowed), and reuses
    staff tokens (:class:`StaffLogins`)."""

    def __init__(self, workdir: Path, ready_timeout: float) -> None:
        super().__init__(
            workdir,
            ready_timeout,
            name="shared-platform",
            extra_env={**RELAXED_LOGIN_LIMITS, **LOOPBACK_WEBHOOKS},
            reuse_tokens=True,
        )
        self.started = False
        self.failed: TargetError | None = None

    def serves(self, extra_env: Mapping[str, str] | None) -> bool:
        """Whether a scenario asking for these settings may use this platform."""
        return all(self.extra_env.get(k) == v for k, v in (extra_env or {}).items())

    def start(self) -> None:
        if self.failed is not None:  # one wait for /readyz is enough: fail the others at once
            raise TargetError(f"the shared platform did not start: {self.failed}")
        if self.started:
            return
        try:
            if self.proc.proc is None:  # else a start cut short (a time limit) left it starting
                self.proc.start()
            wait_http_ok(f"{self.base}/readyz", self.ready_timeout, self.proc)
        except TargetError as exc:
            self.failed = exc
            raise
        self.started = True

    def stop(self) -> None:
        """Left running for the next scenario: :meth:`close` stops it."""

    def close(self) -> None:
        super().stop()


_shared: SharedPlatform | None = None


@contextlib.contextmanager
def shared_platform(ready_timeout: float) -> Iterator[SharedPlatform]:
    """While open, :func:`platform_for` gives every scenario one platform, started on first use
    and stopped on leaving (its data dir is temporary)."""
    global _shared
    with tempfile.TemporaryDirectory(prefix="smartcity-bench-shared-") as tmp:
        platform = SharedPlatform(Path(tmp), ready_timeout)
        _shared = platform
        try:
            yield platform
        finally:
            _shared = None
            platform.close()


def platform_for(
    workdir: Path,
    ready_timeout: float,
    *,
    name: str,
    extra_env: Mapping[str, str] | None = None,
) -> PlatformProcess:
    """A scenario's platform: the shared one when a smoke run opened one and it has the settings
    the scenario asks for, otherwise a platform of its own under ``workdir``."""
    if _shared is not None and _shared.serves(extra_env):
        return _shared
    return PlatformProcess(workdir, ready_timeout, name=name, extra_env=extra_env)


class RealTarget:
    """The real platform, measured with an authenticated catalog read."""

    name = "real"

    def __init__(self, workdir: Path, ready_timeout: float) -> None:
        self.platform = platform_for(workdir, ready_timeout, name="launcher")
        self.token: Token | None = None
        self.resource_id = ""

    @property
    def base(self) -> str:
        return self.platform.base

    def start(self) -> None:
        self.platform.start()
        self._login()
        self.resource_id = self._create_resource()

    def _login(self) -> None:
        self.token = self.platform.logins.login(REAL_ACCOUNT)

    def _auth(self) -> dict[str, str]:
        # Renew at half the lifetime so a long multi-round run never measures 401s.
        if self.token is None or self.token.age_s >= self.token.lifetime_s / 2.0:
            self._login()
        assert self.token is not None
        return self.token.headers()

    def _create_resource(self) -> str:
        """The resource read in the measured request (the data dir is fresh: it is new)."""
        url = f"{self.base}/office/v1/catalog/resources"
        reply = http("POST", url, headers=self._auth(), json_body=RESOURCE)
        if reply.status != 201:
            raise TargetError(f"create resource: HTTP {reply.status}: {reply.body[:500]!r}")
        return str(reply.json()["id"])

    def fetch_body(self) -> HttpReply:
        """The measured request, once: its body is what the baselines return."""
        ep = self.endpoint()
        reply = http("GET", ep.url, headers=ep.headers)
        if reply.status != 200:
            raise TargetError(f"GET {ep.url}: HTTP {reply.status}: {reply.body[:500]!r}")
        return reply

    def endpoint(self) -> Endpoint:
        return Endpoint(f"{self.base}/office/v1/catalog/resources/{self.resource_id}", self._auth())

    def pids(self) -> dict[str, int]:
        """The processes the measured request crosses."""
        return {k: v for k, v in self.platform.pids().items() if k in ("gateway", "catalog")}

    def stop(self) -> None:
        self.platform.stop()


def synthetic_body() -> bytes:
    """A stand-in resource body for baseline-only runs (no real gateway to copy from)."""
    resource = {
        "id": "00000000-0000-4000-8000-000000000001",
        **RESOURCE,
        "status": "draft",
        "version": 1,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }
    return orjson.dumps(resource)
