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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent

_APT_TIMEOUT_S = 600.0
_RUN_GRACE_S = 60.0

# wrk's done() hook prints one machine-readable line; latency values are microseconds.
# wrk counts only status >= 400 as a status error (3xx would pass): the harness also
# checks one request for an exact 2xx before loading each target. With an expected status,
# a response() hook counts every other answer exactly (it costs the client a Lua call per
# response, so only the runs that ask for it pay it), and by status (`statuses`, e.g. 429:12,
# so a run can say what went wrong); `unexpected` is -1 and `statuses` "-" otherwise.
_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  local unexpected = -1
  local statuses = {}
  if expected_status ~= nil then
    unexpected = 0
    for _, t in ipairs(bench_threads) do
      unexpected = unexpected + t:get("unexpected")
      for code, n in pairs(t:get("statuses")) do
        statuses[code] = (statuses[code] or 0) + n
      end
    end
  end
  local counted = {}
  for code, n in pairs(statuses) do
    table.insert(counted, code .. ":" .. n)
  end
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d bytes=%d p50_us=%.1f p99_us=%.1f "
    .. "connect=%d read=%d write=%d status=%d timeout=%d unexpected=%d statuses=%s\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50.0), latency:percentile(99.0),
    e.connect, e.read, e.write, e.status, e.timeout, unexpected,
    #counted > 0 and table.concat(counted, ",") or "-"))
end
"""

# Runs in every thread's own Lua state; setup() keeps the threads so done() can sum.
_WRK_EXPECT = """
expected_status = %d
bench_threads = {}
setup = function(thread)
  table.insert(bench_threads, thread)
end
init = function(args)
  unexpected = 0
  statuses = {}
end
response = function(status, headers, body)
  if status ~= expected_status then
    unexpected = unexpected + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end
"""
# Requests cycle through several paths (and query strings) on the URL's host, in order; the
# counter is per wrk thread, so with one thread the connections take the paths in turn.
_WRK_PATHS = """
bench_next = 0
request = function()
  bench_next = bench_next % #bench_paths + 1
  return wrk.format(nil, bench_paths[bench_next])
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
    # With an expected status: each other status and how often it came (empty otherwise).
    statuses: Mapping[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("statuses")
        if self.statuses:  # only when something other than the expected status came
            data["statuses"] = {str(code): n for code, n in sorted(self.statuses.items())}
        return {**data, "rps": self.rps, "errors": self.errors}


@dataclass(frozen=True)
class RequestSpec:
    """The request every connection repeats, beyond its URL and headers."""

    method: str = "GET"
    body: bytes | None = None
    expect_status: int | None = None
    paths: tuple[str, ...] = ()  # cycled through on the URL's host, when given


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


def _wrk_script(headers: dict[str, str], request: RequestSpec) -> str:
    lines = [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    if request.method != "GET":
        lines.append(f"wrk.method = {_lua_string(request.method)}")
    if request.body is not None:
        lines.append(f"wrk.body = {_lua_string(request.body.decode())}")
    if request.paths:
        lines.append(f"bench_paths = {{{', '.join(_lua_string(p) for p in request.paths)}}}")
    script = "\n".join(lines) + "\n"
    if request.paths:
        script += _WRK_PATHS
    if request.expect_status is not None:
        script += _WRK_EXPECT % request.expect_status
    return script + _WRK_DONE


def _parse_wrk(output: str) -> LoadResult:
    match = _RESULT_RE.search(output)
    if match is None:
        raise RuntimeError(f"wrk printed no result line:\n{output[-2000:]}")
    fields = dict(item.split("=", 1) for item in match.group(1).split())
    # With an expected status, every other answer (not only >= 400) is an error.
    unexpected = int(fields["unexpected"])
    counted = fields.get("statuses", "-")
    statuses = {} if counted == "-" else _status_counts(counted.split(","))
    return LoadResult(
        tool="wrk",
        requests=int(fields["requests"]),
        duration_s=int(fields["duration_us"]) / 1e6,
        bytes=int(fields["bytes"]),
        p50_ms=float(fields["p50_us"]) / 1000.0,
        p99_ms=float(fields["p99_us"]) / 1000.0,
        non2xx=unexpected if unexpected >= 0 else int(fields["status"]),
        socket_errors=sum(int(fields[k]) for k in ("connect", "read", "write", "timeout")),
        statuses=statuses,
    )


def _status_counts(items: Sequence[str]) -> dict[int, int]:
    """``["429:12", "503:1"]`` as ``{429: 12, 503: 1}``."""
    out: dict[int, int] = {}
    for item in items:
        code, _, count = item.partition(":")
        out[int(code)] = out.get(int(code), 0) + int(count)
    return out


def _run_wrk(
    tool: LoadTool,
    url: str,
    headers: dict[str, str],
    duration_s: float,
    connections: int,
    threads: int,
    request: RequestSpec,
) -> LoadResult:
    if tool.path is None:
        raise RuntimeError("wrk path unknown")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "bench.lua"
        script.write_text(_wrk_script(headers, request))
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
    url: str,
    headers: dict[str, str],
    duration_s: float,
    connections: int,
    request: RequestSpec,
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
        "--method",
        request.method,
    ]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    if request.expect_status is not None:
        argv += ["--expect-status", str(request.expect_status)]
    for path in request.paths:
        argv += ["--path", path]
    with tempfile.TemporaryDirectory(prefix="bench-pyload-") as tmp:
        if request.body is not None:
            body_file = Path(tmp) / "body"
            body_file.write_bytes(request.body)
            argv += ["--body-file", str(body_file)]
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
        statuses={int(code): int(n) for code, n in dict(data.get("statuses") or {}).items()},
    )


def run_load(
    tool: LoadTool,
    url: str,
    headers: dict[str, str],
    *,
    duration_s: float,
    connections: int,
    threads: int = 1,
    method: str = "GET",
    body: bytes | None = None,
    expect_status: int | None = None,
    paths: Sequence[str] = (),
) -> LoadResult:
    """Load ``url`` with ``connections`` keep-alive connections for ``duration_s`` seconds.

    ``method`` and ``body`` make every request the same POST (or other) request. With
    ``expect_status``, every answer with another status counts as an error (``non2xx``),
    exactly; without it, wrk counts status >= 400 and the Python generator non-2xx. With
    ``paths`` (each with its query string), the requests go to them in turn on ``url``'s host
    and port instead of to ``url`` itself.
    """
    request = RequestSpec(method, body, expect_status, tuple(paths))
    if tool.kind == "wrk":
        return _run_wrk(tool, url, headers, duration_s, connections, threads, request)
    return _run_python(url, headers, duration_s, connections, request)
