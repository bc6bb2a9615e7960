"""Starting and stopping the three benchmark targets.

* ``bare``: :mod:`bench._bare`, one aiohttp process returning the fixed JSON body.
* ``hop``: :mod:`bench._echo` (gRPC echo) and :mod:`bench._hop` (aiohttp calling it),
  two processes, like the real gateway and service.
* ``real``: the platform via ``python -m runtime.cli up``, measured with an authenticated
  ``GET /office/v1/catalog/resources/<id>``.

Every child runs in its own session so its whole process group can be killed; every wait
is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

SERVER_START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 10.0

LOGIN = {"username": "psb.officer", "password": "smartcity-demo"}
RESOURCE = {
    "code": "BENCH-0001",
    "name": "Bench resource",
    "provider_department": "psb",
    "summary": "for the benchmark",
    "share_type": "unconditional",
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
    """What the load tool hits: one URL plus request headers."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


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
    timeout: float = HTTP_TIMEOUT_S,
) -> HttpReply:
    """One HTTP request to loopback; non-2xx answers are returned, not raised."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"bench only talks to http://{HOST}, not {url!r}")
    data = None if json_body is None else orjson.dumps(json_body)
    req = urllib.request.Request(  # noqa: S310 - scheme and host checked above
        url, data=data, method=method, headers=dict(headers or {})
    )
    if data is not None:
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

    def stop(self) -> None:
        try:
            self.hop.stop()
        finally:
            self.echo.stop()


class RealTarget:
    """The real platform, started with the project's launcher."""

    name = "real"

    def __init__(self, workdir: Path, ready_timeout: float) -> None:
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=workdir))
        env = _child_env()
        env.update(
            {
                "SMARTCITY_DATA_DIR": str(self.data_dir),
                "SMARTCITY_GATEWAY_PORT": str(self.port),
                # 0 = the launcher picks free ports itself.
                "SMARTCITY_NATS_PORT": "0",
                "SMARTCITY_CATALOG_PORT": "0",
                "SMARTCITY_EXCHANGE_PORT": "0",
                "SMARTCITY_IDENTITY_PORT": "0",
                # The default level: the access log is part of the measured path.
                "SMARTCITY_LOG_LEVEL": "info",
            }
        )
        self.proc = ManagedProcess(
            "launcher",
            [sys.executable, "-m", "runtime.cli", "up"],
            workdir / "launcher.log",
            env,
        )
        self.token = ""
        self.token_expires_at = 0.0
        self.resource_id = ""

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.proc.start()
        wait_http_ok(f"{self.base}/readyz", self.ready_timeout, self.proc)
        self._login()
        self.resource_id = self._ensure_resource()

    def _login(self) -> None:
        reply = http("POST", f"{self.base}/office/v1/login", json_body=LOGIN)
        if reply.status != 200:
            raise TargetError(f"login: HTTP {reply.status}: {reply.body[:500]!r}")
        data = reply.json()
        self.token = str(data["access_token"])
        # Renew at half the lifetime so a long multi-round run never measures 401s.
        lifetime = float(data.get("expires_in") or 300)
        self.token_expires_at = time.monotonic() + lifetime / 2.0

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _ensure_resource(self) -> str:
        url = f"{self.base}/office/v1/catalog/resources"
        reply = http("POST", url, headers=self._auth(), json_body=RESOURCE)
        if reply.status == 201:
            return str(reply.json()["id"])
        if reply.status != 409:
            raise TargetError(f"create resource: HTTP {reply.status}: {reply.body[:500]!r}")
        listing = http("GET", url, headers=self._auth())
        if listing.status != 200:
            raise TargetError(f"list resources: HTTP {listing.status}: {listing.body[:500]!r}")
        first = _first_item(listing.json())
        if first is None:
            raise TargetError(f"list resources: no item with an id in {listing.body[:500]!r}")
        return str(first["id"])

    def fetch_body(self) -> HttpReply:
        """The measured request, once: its body is what the baselines return."""
        ep = self.endpoint()
        reply = http("GET", ep.url, headers=ep.headers)
        if reply.status != 200:
            raise TargetError(f"GET {ep.url}: HTTP {reply.status}: {reply.body[:500]!r}")
        return reply

    def endpoint(self) -> Endpoint:
        if time.monotonic() >= self.token_expires_at:
            self._login()
        return Endpoint(f"{self.base}/office/v1/catalog/resources/{self.resource_id}", self._auth())

    def stop(self) -> None:
        # SIGINT is the launcher's Ctrl-C path: it shuts its children down in order.
        self.proc.stop(signal.SIGINT)


def _first_item(listing: Any) -> dict[str, Any] | None:
    """The first resource of a listing, whether a bare list or wrapped in an object."""
    candidates: list[Any] = []
    if isinstance(listing, list):
        candidates = listing
    elif isinstance(listing, dict):
        for value in listing.values():
            if isinstance(value, list):
                candidates.extend(value)
    for item in candidates:
        if isinstance(item, dict) and "id" in item:
            return item
    return None


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
