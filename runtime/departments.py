"""The departments (委办局) known to the platform: code, name and unified social credit code.

One list for every service: identity assigns staff to them, the catalog names providers by their
credit code, and licences carry their issuer's credit code in the licence identifier.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Department:
    code: str
    name: str
    credit_code: str  # GB 32100, the department's own (category 11: an organ of state)


_ALL = (
    Department("bdb", "Big Data Bureau (市大数据管理局)", "11460100MB0A10013M"),
    Department("psb", "Public Security Bureau (市公安局)", "11460100MB0A10021G"),
    Department(
        "hrss",
        "Human Resources and Social Security Bureau (市人力资源和社会保障局)",
        "11460100MB0A1003X8",
    ),
    Department("msa", "Market Supervision Administration (市市场监督管理局)", "11460100MB0A100488"),
)
DEPARTMENTS: dict[str, Department] = {d.code: d for d in _ALL}
