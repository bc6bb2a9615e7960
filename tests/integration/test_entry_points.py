"""Every `python -m ...` entry point of the project answers `--help` with its usage and exit status
0, quickly, without starting anything: no port bound, no database or data directory created.

The entry points are found in the file tree (a package's `__main__.py`, or a module with an
`if __name__ == "__main__":` block), so a new service or tool is covered without a line here.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MAIN_BLOCK = 'if __name__ == "__main__":'
# Python's own audit event for every socket bound from Python code (the metrics server, aiohttp,
# asyncio); a bind in C (gRPC's core, nats-server) is caught by the timeout instead: a process
# that started would not exit on its own.
BIND_RECORDER = """
import os, sys

def _record_binds(event, args):
    if event == "socket.bind":
        with open(os.environ["ENTRY_POINT_BINDS"], "a") as out:
            out.write(f"{sys.argv!r} bound {args[1]!r}\\n")

sys.addaudithook(_record_binds)
"""
SECONDS = 30.0  # the bound on one --help; it takes about one second (the imports)
QUICK = 15.0  # what "quickly" means on a busy two-core machine


def entry_points() -> list[str]:
    """Every module of the project's packages that `python -m` runs."""
    found = []
    packages = [d for d in ROOT.iterdir() if (d / "__init__.py").is_file()]
    for package in packages:
        for path in package.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if path.name == "__main__.py":
                found.append(module.removesuffix(".__main__"))
            elif MAIN_BLOCK in path.read_text(errors="replace"):
                found.append(module)
    return sorted(found)


def test_the_discovery_finds_the_known_entry_points() -> None:
    found = entry_points()
    # a sample: the services, the gateway, the benchmarks and the smartcity command
    for module in ("services.identity", "services.keys", "gateway", "bench", "runtime.cli"):
        assert module in found
    assert len(found) >= 10


async def _help(module: str, tmp: Path, turns: asyncio.Semaphore) -> tuple[int, str, float]:
    data_dir = tmp / module / "data"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp / "hooks"), str(ROOT)]),
        "ENTRY_POINT_BINDS": str(tmp / module / "binds.txt"),
        "SMARTCITY_DATA_DIR": str(data_dir),
    }
    (tmp / module).mkdir()
    async with turns:
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            "--help",
            cwd=tmp / module,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, f"still running after {SECONDS:.0f}s: it started", SECONDS
        return proc.returncode or 0, out.decode(errors="replace"), time.monotonic() - started


async def test_every_entry_point_prints_usage_and_exits_0_without_starting_anything(
    tmp_path: Path,
) -> None:
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "sitecustomize.py").write_text(BIND_RECORDER)
    modules = entry_points()
    turns = asyncio.Semaphore(2)  # two cores, shared

    results = await asyncio.gather(*(_help(m, tmp_path, turns) for m in modules))

    problems = []
    for module, (code, out, seconds) in zip(modules, results, strict=True):
        where = tmp_path / module
        binds = where / "binds.txt"
        if code != 0:
            problems.append(f"python -m {module} --help: exit {code}: {out[-300:]}")
        elif "usage:" not in out:
            problems.append(f"python -m {module} --help: no usage printed: {out[:300]}")
        elif seconds > QUICK:
            problems.append(f"python -m {module} --help: took {seconds:.1f}s")
        if binds.exists():
            problems.append(f"python -m {module} --help bound a port: {binds.read_text()[:300]}")
        created = sorted(str(p.relative_to(where)) for p in where.rglob("*"))
        if created and created != ["binds.txt"]:
            problems.append(f"python -m {module} --help created {created[:5]}")
    assert not problems, "\n".join(problems)


async def test_the_bind_recorder_sees_a_server_start(tmp_path: Path) -> None:
    # the check above can fail: a process that binds a port from Python is recorded
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "sitecustomize.py").write_text(BIND_RECORDER)
    binds = tmp_path / "binds.txt"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import socket; socket.socket().bind(('127.0.0.1', 0))",
        env={**os.environ, "PYTHONPATH": str(tmp_path / "hooks"), "ENTRY_POINT_BINDS": str(binds)},
    )
    assert await asyncio.wait_for(proc.wait(), SECONDS) == 0
    assert "127.0.0.1" in binds.read_text()
