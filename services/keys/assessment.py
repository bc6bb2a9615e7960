"""The cryptographic assessment (Art. 39, GB/T 39786): every key with its algorithm, versions,
age and rotation state, and the findings an assessor would raise. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runtime import algorithms
from runtime.storage import timestamp
from services.keys import domain
from services.keys.domain import KeyInfo
from smartcity.keys.v1 import keys_pb2

DAY_US = 86400 * 10**6
# A key with no rotation period this old is flagged: GM/T 0054 asks for a defined cryptoperiod.
UNROTATED_LIMIT_DAYS = 365
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def assess(
    keys: Sequence[KeyInfo], versions: Mapping[str, Sequence[tuple[int, int]]], *, now_us: int
) -> keys_pb2.GetCryptoAssessmentResponse:
    report = keys_pb2.GetCryptoAssessmentResponse(assess_time=timestamp(now_us))
    findings: list[tuple[str, str, str]] = []
    for key in keys:
        made = versions.get(key.name) or [(key.latest_version, key.created_us)]
        age_days = max(0, (now_us - made[-1][1]) // DAY_US)
        national = algorithms.ALGORITHMS[key.algorithm].national
        overdue = key.state == domain.ENABLED and (
            age_days > key.rotation_period_days
            if key.rotation_period_days
            else age_days > UNROTATED_LIMIT_DAYS
        )
        report.keys.add(
            holder="keys",
            name=key.name,
            purpose=key.purpose,
            algorithm=key.algorithm,
            national=national,
            state=domain.STATE_NUMBERS[key.state],
            versions=len(made),
            latest_version=key.latest_version,
            age_days=age_days,
            rotation_period_days=key.rotation_period_days,
            rotation_overdue=overdue,
            owner_department=key.owner_department,
        )
        if key.state == domain.DELETED:
            continue
        if overdue:
            period = key.rotation_period_days or UNROTATED_LIMIT_DAYS
            findings.append(
                ("high", key.name, f"rotation overdue: {age_days} days old, period {period} days")
            )
        if not key.rotation_period_days:
            findings.append(("low", key.name, "no rotation period: rotated only on demand"))
        if not national:
            findings.append(
                (
                    "medium",
                    key.name,
                    f"{key.algorithm} is not a national (GM/T) algorithm: allowed only where "
                    "interoperability needs it, never for graded data",
                )
            )
        if key.state == domain.PENDING_DELETION:
            findings.append(("low", key.name, "pending deletion: disabled until destroyed"))
    for severity, name, text in sorted(findings, key=lambda f: (_SEVERITY_ORDER[f[0]], f[1])):
        report.findings.add(severity=severity, key=name, finding=text)
    return report
