"""The README is executable: every fenced `sh` block runs against a platform of its own.

The platform runs as `make run` runs it (demo data, the demo password `smartcity-demo`), on free
ports; the blocks run verbatim in bash, in a scratch folder with `.venv` linked in, with the
platform's settings in the environment (as a shell beside `make run` would have them), and with
only the default ports in `localhost:<port>` rewritten to the ones this platform took. A block
that cannot run here says why in a marker on the line above its fence:
`<!-- readme-test: skip (the reason) -->`.

What a block promises is checked too: each `curl` must succeed (`--fail-with-body`), a streaming
`curl -N` is followed for a few seconds, and an answer shown in a comment (`# {"result": "valid",
...}` or `# 201 Created ...`) must be in what the block printed.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from conftest import _PLATFORM_DIRS, Platform, remember_secret, start_platform
from runtime import config
from runtime.launcher import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_PASSWORD = "smartcity-demo"
BLOCK_TIMEOUT = 90.0
# curl as the blocks call it: failing on an HTTP error with its body shown, bounded in time; a
# stream (`curl -N`) is followed for a few seconds, and its time running out is its success.
SHELL_PRELUDE = r"""
set -euo pipefail
curl() {
  if [[ " $* " == *" -N "* ]]; then
    command curl --max-time 3 "$@" || [ $? -eq 28 ]
  else
    command curl --fail-with-body --max-time 30 "$@"
  fi
}
"""
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"<!--\s*readme-test:\s*skip\s*\((.+?)\)\s*-->")


@dataclass(frozen=True)
class Block:
    line: int  # where its fence opens, for the failure message
    code: str
    skip: str | None  # why it is not run, if it is not


def readme_blocks(text: str) -> list[Block]:
    """The fenced `sh` blocks of a Markdown text, each with its skip marker, if any."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if opening.group(1) in {"sh", "bash", "shell", "console"}:
            marker = _MARKER.search(lines[start - 1]) if start else None
            skip = marker.group(1) if marker else None
            blocks.append(Block(start + 1, "\n".join(body) + "\n", skip))
    return blocks


def promised_answers(code: str) -> list[str]:
    """What the block's comments say its commands print: `"key": "value"` pairs and bare keys of
    a JSON answer (values ending in `...` are elisions), and `NNN Reason` status lines."""
    promised: list[str] = []
    for comment in re.findall(r"#\s*(.*)$", code, re.MULTILINE):
        if comment.startswith("{"):
            for key, value in re.findall(r'"(\w+)":\s*("[^"]*"|\{)', comment):
                if value.startswith('"') and not value.endswith('..."') and value != '"..."':
                    promised.append(f'"{key}":{value}')
                else:
                    promised.append(f'"{key}":')
        elif status := re.match(r"(\d{3}) [A-Z][a-z]+", comment):
            promised.append(f"HTTP/1.1 {status.group(0)}")
    return promised


def _with_ports(code: str, ports: dict[int, int]) -> str:
    """`localhost:<default port>` rewritten to the port this platform took for that process."""
    return re.sub(
        r"\blocalhost:(\d+)", lambda m: f"localhost:{ports.get(int(m[1]), int(m[1]))}", code
    )


def test_the_readmes_examples_are_found_and_most_of_them_run() -> None:
    blocks = readme_blocks(README.read_text())
    assert len(blocks) >= 5, "the README's examples were not found"
    run = [b for b in blocks if b.skip is None]
    assert len(run) >= 3, "most of the README's examples must run"


def test_promised_answers_are_read_from_comments() -> None:
    code = (
        'curl x   # {"result": "valid", "disclosed": {"age_over_18": "true"}, ...}\n'
        '# {"access_token": "eyJ...", "token_type": "Bearer"}\n# 201 Created: a draft\n'
    )
    assert promised_answers(code) == [
        '"result":"valid"',
        '"disclosed":',
        '"age_over_18":"true"',
        '"access_token":',
        '"token_type":"Bearer"',
        "HTTP/1.1 201 Created",
    ]


@pytest_asyncio.fixture(scope="module")
async def readme_platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """The platform as `make run` starts it: demo data and the README's demo password."""
    data_dir = tmp_path_factory.mktemp("readme")
    # fixed free ports, so that the README's `localhost:9462/metrics` has one to point to
    metrics = {
        f"SMARTCITY_{name.upper()}_METRICS_PORT": str(free_port())
        for name in config.DEFAULT_METRICS_PORTS
    }
    settings, env, supervisor = await start_platform(
        data_dir, SMARTCITY_DEMO_PASSWORD=README_PASSWORD, **metrics
    )
    _PLATFORM_DIRS.append(settings.data_dir)
    remember_secret(README_PASSWORD)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        yield Platform(settings, env, supervisor, http)
    await supervisor.stop_all()


def _port_map(platform: Platform) -> dict[int, int]:
    settings = platform.settings
    ports = {config.DEFAULT_PORTS[n]: settings.port(n) for n in config.DEFAULT_PORTS}
    ports.update({p: settings.metrics_port(n) for n, p in config.DEFAULT_METRICS_PORTS.items()})
    return ports


_RUN = [b for b in readme_blocks(README.read_text()) if b.skip is None]


@pytest.mark.timeout(BLOCK_TIMEOUT + 30)
@pytest.mark.parametrize("block", _RUN, ids=[f"line{b.line}" for b in _RUN])
async def test_readme_block_runs_as_written(
    readme_platform: Platform, block: Block, tmp_path: Path
) -> None:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {**os.environ, **readme_platform.env}
    env.pop("PYTHONPATH", None)
    script = SHELL_PRELUDE + _with_ports(block.code, _port_map(readme_platform))
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), BLOCK_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"README block at line {block.line} did not finish in {BLOCK_TIMEOUT}s")
    printed = out.decode(errors="replace")
    remember_secret(*re.findall(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", printed))
    where = f"README.md line {block.line}"
    assert process.returncode == 0, f"{where} failed (exit {process.returncode}):\n{printed}"
    compact = re.sub(r"\s+", "", printed)
    missing = [p for p in promised_answers(block.code) if re.sub(r"\s+", "", p) not in compact]
    assert not missing, f"{where} did not print what its comments promise: {missing}\n{printed}"
    print(printed, file=sys.stderr)
