"""The cryptographic assessment's findings, from key configurations alone."""

from __future__ import annotations

from services.keys import domain
from services.keys.assessment import DAY_US, assess
from services.keys.domain import KeyInfo
from smartcity.keys.v1 import keys_pb2

NOW = 1_800_000_000 * 10**6


def key(name: str, algorithm: str, *, period: int, age_days: int, state: str = "enabled") -> tuple:
    info = KeyInfo(
        name=name,
        purpose="encrypt" if "gcm" in algorithm else "sign",
        algorithm=algorithm,
        latest_version=2,
        min_decryption_version=1,
        rotation_period_days=period,
        state=state,
        owner_department="bdb",
    )
    return info, [(1, NOW - 900 * DAY_US), (2, NOW - age_days * DAY_US)]


def test_overdue_rotation_and_foreign_algorithms_are_flagged_most_serious_first() -> None:
    keys = dict(
        fresh=key("fresh", "sm2", period=90, age_days=10),
        late=key("late", "sm4-gcm", period=90, age_days=120),
        foreign=key("foreign", "aes-256-gcm", period=30, age_days=1),
        forgotten=key("forgotten", "sm2", period=0, age_days=400),
        gone=key("gone", "aes-256-gcm", period=0, age_days=999, state=domain.DELETED),
    )
    report = assess([k for k, _ in keys.values()], {n: v for n, (_, v) in keys.items()}, now_us=NOW)
    by_name = {k.name: k for k in report.keys}
    assert by_name["late"].rotation_overdue and by_name["late"].age_days == 120
    assert not by_name["fresh"].rotation_overdue and by_name["fresh"].national
    assert by_name["gone"].state == keys_pb2.KEY_STATE_DELETED
    findings = [(f.severity, f.key) for f in report.findings]
    assert findings[:2] == [("high", "forgotten"), ("high", "late")]
    assert ("medium", "foreign") in findings
    assert ("low", "forgotten") in findings  # no rotation period at all
    assert all(name != "gone" for _, name in findings)  # destroyed keys protect nothing
    assert [f.severity for f in report.findings] == sorted(
        (f.severity for f in report.findings), key=["high", "medium", "low"].index
    )
