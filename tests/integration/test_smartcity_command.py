"""The `smartcity` tools against a running platform, from a folder outside the repository: they
find its data with `--data-dir` and its gateway from the settings it was started with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from conftest import Platform

pytestmark = pytest.mark.integration
SMARTCITY = str(Path(sys.executable).parent / "smartcity")


def smartcity(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCITY_", "OTEL_"))}
    return subprocess.run(
        [SMARTCITY, *args],
        cwd=cwd,
        env={**shell, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_audit_and_assessment_read_the_platform_named_by_data_dir(
    platform: Platform, tmp_path: Path
) -> None:
    data_dir = str(platform.data_dir)

    verified = smartcity(tmp_path, "audit", "verify", "--json", "--data-dir", data_dir)
    assessed = smartcity(tmp_path, "assessment", "--data-dir", data_dir)

    assert verified.returncode == 0, verified.stderr
    assert orjson.loads(verified.stdout)["intact"] is True
    assert assessed.returncode == 0, assessed.stderr
    assert "audit.checkpoints" in {k["name"] for k in orjson.loads(assessed.stdout)["keys"]}
    assert list(tmp_path.iterdir()) == []


def test_licence_fetch_calls_the_gateway_on_the_port_the_platform_was_started_with(
    platform: Platform, tmp_path: Path
) -> None:
    # given the platform's gateway on a free port (not 8080), as SMARTCITY_GATEWAY_PORT says
    port = str(platform.settings.port("gateway"))
    assert port != "8080"

    # when fetching the lists with that setting and no --gateway
    done = smartcity(tmp_path, "licence", "fetch", "--out", "lists", SMARTCITY_GATEWAY_PORT=port)

    # then both lists come from that gateway
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lists" / "trust-list.json").stat().st_size > 0
    assert (tmp_path / "lists" / "status-list.txt").stat().st_size > 0
