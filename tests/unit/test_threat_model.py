"""The threat model (deploy/THREAT-MODEL.md) names a test for every threat, and each named test
exists: a threat whose test was renamed or removed fails here, not silently."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "deploy" / "THREAT-MODEL.md"
_ROW = re.compile(r"^\| (H\d+|API\d+|T\d+) \|(.*)\|\s*$", re.MULTILINE)
_TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _rows() -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _ROW.finditer(MODEL.read_text())}


def test_every_hole_found_by_attack_and_every_owasp_api_risk_has_a_row() -> None:
    ids = set(_rows())
    assert {f"H{i}" for i in range(1, 10)} <= ids
    assert {f"API{i}" for i in range(1, 11)} <= ids


def test_every_row_names_at_least_one_test_and_every_named_test_exists() -> None:
    missing = []
    for row_id, row in _rows().items():
        named = _TEST.findall(row.rsplit("|", 1)[-1])
        assert named, f"{row_id} names no test"
        for path, name in named:
            source = ROOT / path
            if not source.exists() or not re.search(rf"def {name}\(", source.read_text()):
                missing.append(f"{row_id}: {path}::{name}")
    assert not missing, missing
