"""The benchmarks cannot rot: every scenario of the bench registry runs in its smoke mode
(`python -m bench --smoke`: tiny data, short runs, one shared platform, a time limit per
scenario) and must complete with no errors, printing its ratio and its CPU per operation.

No timing is asserted: on a shared two-core machine the smoke run's figures mean nothing. With no
scenario named, `python -m bench` runs every registered one, so a new scenario is covered
without a line here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
# A backstop only: the bench stops each scenario at its own time limit (bench.runner), and the
# whole smoke run takes about a minute here.
SMOKE_TIMEOUT_S = 600.0
pytestmark = [pytest.mark.integration, pytest.mark.timeout(SMOKE_TIMEOUT_S + 30)]


def test_every_bench_scenario_completes_its_smoke_run_without_errors(tmp_path: Path) -> None:
    # given every registered scenario, and results written where this test reads them
    output = tmp_path / "smoke.json"

    # when they run in smoke mode (wrk if installed, else the Python load generator)
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--no-install", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        timeout=SMOKE_TIMEOUT_S,
        check=False,
    )

    # then each completed with no errors and printed its headline: ratio and CPU per operation
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    context = f"\n--- stdout (end) ---\n{out[-4000:]}\n--- stderr (end) ---\n{err[-4000:]}"
    assert output.exists(), f"python -m bench --smoke wrote no results (exit {proc.returncode})"
    results = orjson.loads(output.read_bytes())
    assert results["smoke"] is True
    statuses: dict[str, int] = results["exit_status"]
    for known in ("gateway", "identity", "keys", "authcodes", "catalog", "exchange", "licences"):
        assert known in statuses, f"scenario {known} did not run{context}"
    failed = {
        name: results["headline"].get(name) or results["scenarios"][name].get("error")
        for name, status in statuses.items()
        if status != 0
    }
    assert not failed, f"smoke run failed: {failed}{context}"
    for name, headline in results["headline"].items():
        assert "%" in headline and "CPU" in headline, f"{name}: headline {headline!r}{context}"
        assert f"  {name} " in out, f"{name}: not in the printed summary{context}"
    assert proc.returncode == 0, f"exit {proc.returncode}{context}"
