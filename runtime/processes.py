"""Supervising the platform's OS processes: start, wait until ready, restart, stop.

Used by `smartcity up` and by the integration tests, which need to SIGKILL a process and
bring it back; every wait is bounded. A process that dies is restarted within a second, later
and later while it keeps dying soon after each start, and within a second again once it has
stayed up for a while (`RestartBackoff`): an occasional crash never pays for old ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from runtime import logs

log = logs.get(__name__)

_PR_SET_PDEATHSIG = 1

ReadyCheck = Callable[[], Awaitable[bool]]


class ProcessFailed(RuntimeError):
    """A process exited or did not become ready in time; the message ends with its last log."""


# Resolved here, in the parent: between fork and exec the child only makes the one call.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the supervisor dies, however it dies, so a
    killed `smartcity up` leaves no process holding the platform's ports."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# Ports are picked below the kernel's ephemeral range (32768-60999 on Linux): a port the kernel
# hands out for binding to 0 is soon some outgoing connection's source port, and one taken that
# way between our choosing it and the process binding it crash-loops the process.
_PICK_FROM = range(20000, 32768)
_picked: set[int] = set()  # never the same port twice from one process


def free_port() -> int:
    for _ in range(200):
        port = random.choice(_PICK_FROM)
        if port not in _picked and not port_taken(port):
            _picked.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


async def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class RestartBackoff:
    """How long to wait before restarting a process that died.

    `first_delay` after a run of `stable_seconds` or more (or the first crash), then doubling for
    each crash that follows soon after a start, up to `max_delay`: a crash loop does not spin,
    and a process that has been up for a while comes back at once.
    """

    stable_seconds: float = 60.0
    first_delay: float = 0.5
    max_delay: float = 30.0
    crashes: int = 0  # in a row, each within `stable_seconds` of its start

    def delay_after(self, uptime: float) -> float:
        """The wait before the next start of a process that died after `uptime` seconds."""
        if uptime >= self.stable_seconds:
            self.crashes = 0
        delay = min(self.first_delay * 2.0**self.crashes, self.max_delay)
        self.crashes += 1
        return delay


@dataclass
class ProcessSpec:
    """How to run one process of the platform and how to tell that it is ready."""

    name: str
    argv: list[str]
    ready: ReadyCheck
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0


@dataclass
class _Running:
    spec: ProcessSpec
    proc: asyncio.subprocess.Process
    log_file: IO[bytes]
    restarts: int = 0
    started_at: float = 0.0


class Supervisor:
    """Starts processes in order and, when `restart` is on, brings back any that die (with a
    `RestartBackoff` per process that forgets earlier crashes after `stable_seconds` up)."""

    def __init__(
        self,
        *,
        restart: bool = False,
        on_restart: Callable[[], None] | None = None,
        stable_seconds: float = 60.0,
    ) -> None:
        self._restart = restart
        self._on_restart = on_restart
        self._stable_seconds = stable_seconds
        self._running: dict[str, _Running] = {}
        self._stopped: set[str] = set()  # stopped on purpose: not restarted
        self._stopping = False

    def pid(self, name: str) -> int:
        return int(self._running[name].proc.pid)

    def pids(self) -> dict[str, int]:
        return {name: int(r.proc.pid) for name, r in self._running.items()}

    async def start(self, spec: ProcessSpec) -> None:
        """Start a process and wait until its ready check passes (or raise ProcessFailed)."""
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._stopped.discard(spec.name)
        log_file = open(spec.log_path, "ab")  # noqa: SIM115, ASYNC230 - closed when the process ends
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            env={**os.environ, **spec.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops children in order
            preexec_fn=_die_with_parent,
        )
        previous = self._running.get(spec.name)
        self._running[spec.name] = _Running(
            spec, proc, log_file, previous.restarts if previous else 0, time.monotonic()
        )
        deadline = time.monotonic() + spec.ready_timeout
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise ProcessFailed(
                    f"{spec.name} exited with code {proc.returncode}; its log "
                    f"({spec.log_path}) ends with:\n{tail(spec.log_path)}"
                )
            if await spec.ready():
                return
            await asyncio.sleep(0.1)
        raise ProcessFailed(
            f"{spec.name} was not ready after {spec.ready_timeout:.0f}s; its log "
            f"({spec.log_path}) ends with:\n{tail(spec.log_path)}"
        )

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash would: no cleanup in the process."""
        with contextlib.suppress(ProcessLookupError):
            self._running[name].proc.send_signal(signal.SIGKILL)

    async def wait_exit(self, name: str, timeout: float = 10.0) -> int | None:
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self._running[name].proc.wait(), timeout)
        return None

    async def stop(self, name: str, *, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if the process has not ended within `timeout`."""
        running = self._running.get(name)
        if running is None:
            return
        self._stopped.add(name)
        proc = running.proc
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                log.warning("process_killed", process=name, after_seconds=timeout)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        running.log_file.close()

    async def stop_all(self) -> None:
        """Stop in reverse start order: the gateway first, NATS last."""
        self._stopping = True
        for name in reversed(list(self._running)):
            await self.stop(name)

    async def watch(self) -> None:
        """Restart processes that die, each with its own backoff; runs until cancelled."""
        async with asyncio.TaskGroup() as group:
            for name in list(self._running):
                group.create_task(self._keep_running(name), name=f"watch-{name}")

    async def _keep_running(self, name: str) -> None:
        backoff = RestartBackoff(stable_seconds=self._stable_seconds)
        while True:
            running = self._running[name]
            code = await running.proc.wait()
            if not self._restart or self._stopping or name in self._stopped:
                return
            running.log_file.close()
            running.restarts += 1
            delay = backoff.delay_after(time.monotonic() - running.started_at)
            log.warning(
                "process_exited",
                process=name,
                code=code,
                restart_in=delay,
                crashes_in_a_row=backoff.crashes,
            )
            await asyncio.sleep(delay)
            if self._stopping or name in self._stopped:
                return
            try:
                await self.start(running.spec)
            except ProcessFailed as exc:
                log.error("process_restart_failed", process=name, error=str(exc)[:500])
                self.kill(name)  # one that never became ready gets another try, later
                continue
            if self._on_restart is not None:
                self._on_restart()
