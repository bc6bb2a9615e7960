"""The load tool: wrk when available (cheap C client), else a Python closed-loop fallback.

Both report the same :class:`LoadResult`, and every target in a run uses the same tool.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent

_APT_TIMEOUT_S = 600.0
_RUN_GRACE_S = 60.0

# wrk's done() hook prints one machine-readable line; latency values are microseconds.
# wrk counts only status >= 400 as a status error (3xx would pass): the harness also
# checks one request for an exact 2xx before loading each target.
_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d bytes=%d p50_us=%.1f p99_us=%.1f "
    .. "connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50.0), latency:percentile(99.0),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
_RESULT_RE = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class LoadResult:
    """One load run against one target."""

    tool: str
    requests: int
    duration_s: float
    bytes: int
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rps": self.rps, "errors": self.errors}


@dataclass(frozen=True)
class LoadTool:
    """Which load generator to use, and how to describe it."""

    kind: str  # "wrk" or "python"
    path: str | None
    version: str

    def describe(self) -> str:
        return f"{self.kind} ({self.version})"


def _apt_get(*args: str) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = subprocess.run(
            ["apt-get", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=_APT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"bench: apt-get {' '.join(args)} failed: {exc}", file=sys.stderr)
        return False
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        print(f"bench: apt-get {' '.join(args)} failed: {' | '.join(tail)}", file=sys.stderr)
    return proc.returncode == 0


def _install_wrk() -> str | None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    print("bench: wrk not found; trying apt-get install -y wrk", file=sys.stderr)
    # The package lists may be stale or empty on a fresh machine: update only on failure.
    if not _apt_get("install", "-y", "wrk") and _apt_get("update"):
        _apt_get("install", "-y", "wrk")
    return shutil.which("wrk")


def _wrk_version(path: str) -> str:
    try:
        proc = subprocess.run([path, "-v"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "wrk"
    first = (proc.stdout or proc.stderr).decode(errors="replace").splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "wrk"


def choose_tool(preference: str, *, allow_install: bool) -> LoadTool:
    """Pick the load tool: ``preference`` is ``auto``, ``wrk`` or ``python``."""
    if preference != "python":
        path = shutil.which("wrk")
        if path is None and allow_install:
            path = _install_wrk()
        if path is not None:
            return LoadTool("wrk", path, _wrk_version(path))
        if preference == "wrk":
            raise RuntimeError("wrk requested but not available")
        print("bench: wrk unavailable; falling back to the Python load generator", file=sys.stderr)
    return LoadTool("python", None, f"aiohttp closed loop, Python {sys.version.split()[0]}")


def _lua_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _wrk_script(headers: dict[str, str]) -> str:
    lines = [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n" + _WRK_DONE


def _parse_wrk(output: str) -> LoadResult:
    match = _RESULT_RE.search(output)
    if match is None:
        raise RuntimeError(f"wrk printed no result line:\n{output[-2000:]}")
    fields = dict(item.split("=", 1) for item in match.group(1).split())
    return LoadResult(
        tool="wrk",
        requests=int(fields["requests"]),
        duration_s=int(fields["duration_us"]) / 1e6,
        bytes=int(fields["bytes"]),
        p50_ms=float(fields["p50_us"]) / 1000.0,
        p99_ms=float(fields["p99_us"]) / 1000.0,
        non2xx=int(fields["status"]),
        socket_errors=sum(int(fields[k]) for k in ("connect", "read", "write", "timeout")),
    )


def _run_wrk(
    tool: LoadTool,
    url: str,
    headers: dict[str, str],
    duration_s: float,
    connections: int,
    threads: int,
) -> LoadResult:
    if tool.path is None:
        raise RuntimeError("wrk path unknown")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "bench.lua"
        script.write_text(_wrk_script(headers))
        argv = [
            tool.path,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        proc = subprocess.run(
            argv, capture_output=True, timeout=duration_s + _RUN_GRACE_S, check=False
        )
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return _parse_wrk(out)


def _run_python(
    url: str, headers: dict[str, str], duration_s: float, connections: int
) -> LoadResult:
    argv = [
        sys.executable,
        "-m",
        "bench._pyload",
        "--url",
        url,
        "--connections",
        str(connections),
        "--duration",
        str(duration_s),
    ]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    # A separate process, so the client does not share the harness's interpreter.
    proc = subprocess.run(
        argv, cwd=ROOT, capture_output=True, timeout=duration_s + _RUN_GRACE_S, check=False
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        raise RuntimeError(f"python load generator exited {proc.returncode}: {err}")
    data = orjson.loads(proc.stdout.strip().splitlines()[-1])
    return LoadResult(
        tool="python",
        requests=int(data["requests"]),
        duration_s=float(data["duration_s"]),
        bytes=int(data["bytes"]),
        p50_ms=float(data["p50_ms"]),
        p99_ms=float(data["p99_ms"]),
        non2xx=int(data["non2xx"]),
        socket_errors=int(data["socket_errors"]),
    )


def run_load(
    tool: LoadTool,
    url: str,
    headers: dict[str, str],
    *,
    duration_s: float,
    connections: int,
    threads: int = 1,
) -> LoadResult:
    """Load ``url`` with ``connections`` keep-alive connections for ``duration_s`` seconds."""
    if tool.kind == "wrk":
        return _run_wrk(tool, url, headers, duration_s, connections, threads)
    return _run_python(url, headers, duration_s, connections)
