"""Production mode refuses the embedded mode's defaults at startup, naming what to set."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from runtime import config
from runtime.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = (*config.SERVICES, "gateway")

# A production configuration every process accepts.
PRODUCTION: Mapping[str, str] = {
    "SMARTCITY_PRODUCTION": "true",
    "SMARTCITY_DATABASE_URL": "postgresql+asyncpg://smartcity@db.internal:5432/smartcity",
    "SMARTCITY_MASTER_KEY": "9b1e47c2d05a8f63e7140bd92c6a58f1",
    "SMARTCITY_STREAM_REPLICAS": "3",
    "SMARTCITY_ISSUER": "https://api.smartcity.haikou.example",
    "SMARTCITY_NATS_URL": "nats://nats.internal:4222",
    "SMARTCITY_SERVICE_SECRET": "a-service-client-secret-from-identity",
    "SMARTCITY_NATS_SEED": "SUAEXAMPLEXNKEYXSEEDXOFXTHISXPROCESSXONLY",
    "SMARTCITY_GATEWAY_SECRET": "a-random-key-shared-by-every-gateway-replica",
}


MASTER_KEY_PROBLEM = "set SMARTCITY_MASTER_KEY (32 hex digits, not a known example)"


def problems(env: Mapping[str, str], process: str) -> list[str]:
    """The lines of the refusal (empty: accepted)."""
    try:
        config.check_production(config.load(env), process=process)
    except ConfigError as exc:
        return str(exc).splitlines()
    return []


def without(name: str) -> dict[str, str]:
    return {k: v for k, v in PRODUCTION.items() if k != name}


@pytest.mark.parametrize("process", PROCESSES)
def test_a_complete_production_configuration_starts_every_process(process: str) -> None:
    assert problems(PRODUCTION, process) == []


@pytest.mark.parametrize("process", PROCESSES)
def test_the_embedded_default_is_not_checked(process: str, tmp_path: Path) -> None:
    # given no configuration at all: SQLite, demo accounts, embedded NATS, one replica
    settings = config.load({"SMARTCITY_DATA_DIR": str(tmp_path)})
    assert not settings.production and settings.demo and settings.stream_replicas == 1
    # then nothing is refused
    config.check_production(settings, process=process)


@pytest.mark.parametrize(
    ("env", "process", "variable"),
    [
        (without("SMARTCITY_DATABASE_URL"), "catalog", "SMARTCITY_DATABASE_URL"),
        (
            {**PRODUCTION, "SMARTCITY_DATABASE_URL": "sqlite+aiosqlite:////var/lib/c.db"},
            "identity",
            "SMARTCITY_DATABASE_URL",
        ),
        ({**PRODUCTION, "SMARTCITY_DEMO": "true"}, "identity", "SMARTCITY_DEMO"),
        ({**PRODUCTION, "SMARTCITY_DEMO_PASSWORD": "x"}, "gateway", "SMARTCITY_DEMO_PASSWORD"),
        (without("SMARTCITY_MASTER_KEY"), "identity", "SMARTCITY_MASTER_KEY"),
        (without("SMARTCITY_MASTER_KEY"), "keys", "SMARTCITY_MASTER_KEY"),
        (without("SMARTCITY_MASTER_KEY"), "licences", "SMARTCITY_MASTER_KEY"),
        (without("SMARTCITY_MASTER_KEY"), "partners", "SMARTCITY_MASTER_KEY"),
        (without("SMARTCITY_STREAM_REPLICAS"), "catalog", "SMARTCITY_STREAM_REPLICAS=3"),
        ({**PRODUCTION, "SMARTCITY_STREAM_REPLICAS": "2"}, "keys", "SMARTCITY_STREAM_REPLICAS=3"),
        (without("SMARTCITY_ISSUER"), "gateway", "SMARTCITY_ISSUER"),
        (without("SMARTCITY_NATS_SEED"), "catalog", "SMARTCITY_NATS_SEED"),
        (without("SMARTCITY_NATS_SEED"), "gateway", "SMARTCITY_NATS_SEED"),
        (
            {**PRODUCTION, "SMARTCITY_ISSUER": "http://api.smartcity.haikou.example"},
            "catalog",
            "SMARTCITY_ISSUER",
        ),
        (without("SMARTCITY_NATS_URL"), "gateway", "SMARTCITY_NATS_URL"),
        (without("SMARTCITY_GATEWAY_SECRET"), "gateway", "SMARTCITY_GATEWAY_SECRET"),
        (
            {**PRODUCTION, "SMARTCITY_GATEWAY_SECRET": "short"},
            "gateway",
            "SMARTCITY_GATEWAY_SECRET",
        ),
        (without("SMARTCITY_NATS_URL"), "exchange", "SMARTCITY_NATS_URL"),
        (without("SMARTCITY_SERVICE_SECRET"), "exchange", "SMARTCITY_SERVICE_SECRET"),
        (without("SMARTCITY_SERVICE_SECRET"), "licences", "SMARTCITY_SERVICE_SECRET"),
        (
            {**PRODUCTION, "SMARTCITY_WEBHOOK_ALLOW_PRIVATE": "true"},
            "partners",
            "SMARTCITY_WEBHOOK_ALLOW_PRIVATE",
        ),
    ],
)
def test_each_rule_is_refused_naming_its_variable(
    env: Mapping[str, str], process: str, variable: str
) -> None:
    [line] = problems(env, process)
    assert line.startswith(f"production mode: {process}: ")
    assert variable in line


@pytest.mark.parametrize(
    "key",
    [
        "0" * 32,
        "00112233445566778899aabbccddeeff",
        "00112233445566778899AABBCCDDEEFF",
        "ab" * 16,
        "0123456" * 4 + "0123",  # seven distinct digits
        "9b1e47c2d05a8f63e7140bd92c6a58",  # 30 digits
        "9b1e47c2d05a8f63e7140bd92c6a58f1ff",
        "9b1e 47c2 d05a 8f63 e714 0bd9 2c6a 58f1",
        "not-hex-" * 4,
    ],
)
def test_a_weak_or_example_master_key_is_refused(key: str) -> None:
    [line] = problems({**PRODUCTION, "SMARTCITY_MASTER_KEY": key}, "licences")
    assert line == f"production mode: licences: {MASTER_KEY_PROBLEM}"


@pytest.mark.parametrize("process", ["catalog", "gateway"])
def test_processes_that_seal_nothing_need_no_master_key(process: str) -> None:
    assert problems(without("SMARTCITY_MASTER_KEY"), process) == []


@pytest.mark.parametrize("process", ["identity", "keys", "catalog", "partners", "gateway"])
def test_processes_that_never_call_as_themselves_need_no_service_secret(process: str) -> None:
    # (every process hears identity's feed of ended sessions, which asks for no credentials)
    assert problems(without("SMARTCITY_SERVICE_SECRET"), process) == []


def test_the_gateway_needs_neither_a_database_nor_stream_replicas() -> None:
    env = without("SMARTCITY_DATABASE_URL")
    del env["SMARTCITY_STREAM_REPLICAS"]
    assert problems(env, "gateway") == []


def test_demo_switched_off_explicitly_is_accepted() -> None:
    assert problems({**PRODUCTION, "SMARTCITY_DEMO": "false"}, "identity") == []


def test_every_problem_is_reported_at_once() -> None:
    # given production mode and nothing else
    lines = problems({"SMARTCITY_PRODUCTION": "true", "SMARTCITY_DEMO": "true"}, "licences")
    # then one line per problem, each naming its variable
    assert all(line.startswith("production mode: licences: ") for line in lines)
    named = [
        "SMARTCITY_DATABASE_URL",
        "SMARTCITY_DEMO",
        "SMARTCITY_MASTER_KEY",
        "SMARTCITY_STREAM_REPLICAS",
        "SMARTCITY_ISSUER",
        "SMARTCITY_NATS_URL",
        "SMARTCITY_NATS_SEED",
        "SMARTCITY_SERVICE_SECRET",
    ]
    assert len(lines) == len(named)
    for line, variable in zip(lines, named, strict=True):
        assert variable in line


@pytest.mark.parametrize(("raw", "replicas"), [(None, 1), ("", 1), ("1", 1), ("3", 3), ("5", 5)])
def test_stream_replicas_are_read_from_the_environment(raw: str | None, replicas: int) -> None:
    env = {} if raw is None else {"SMARTCITY_STREAM_REPLICAS": raw}
    assert config.load(env).stream_replicas == replicas


@pytest.mark.parametrize("raw", ["0", "-1", "6", "three", "2.5"])
def test_stream_replicas_outside_one_to_five_name_their_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="SMARTCITY_STREAM_REPLICAS"):
        config.load({"SMARTCITY_STREAM_REPLICAS": raw})


def _without_smartcity(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith(("SMARTCITY_", "OTEL_"))}


@pytest.mark.parametrize(
    ("module", "process"), [("services.catalog", "catalog"), ("gateway", "gateway")]
)
def test_a_process_in_production_on_defaults_exits_with_the_message(
    module: str, process: str, tmp_path: Path
) -> None:
    # given production mode on the embedded defaults (SQLite, embedded NATS, http issuer)
    env = {
        **_without_smartcity(os.environ),
        "SMARTCITY_PRODUCTION": "true",
        "SMARTCITY_DATA_DIR": str(tmp_path / "var"),
    }
    # when the process is started
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    # then it exits at once, non-zero, with the refusal on stderr and no traceback
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"production mode: {process}: set SMARTCITY_NATS_URL" in done.stderr
    if process == "catalog":
        assert "production mode: catalog: set SMARTCITY_DATABASE_URL" in done.stderr
    # and it opened no database
    assert not (tmp_path / "var").exists()


def test_failure_injection_is_refused_in_production() -> None:
    settings = config.load({**PRODUCTION, "SMARTCITY_FAULTS": "catalog:fail=1"})
    with pytest.raises(config.ConfigError, match="SMARTCITY_FAULTS"):
        config.check_production(settings, process="catalog")


def test_webhooks_to_private_addresses_are_off_unless_local_testing_asks() -> None:
    assert not config.load({}).webhook_allow_private
    assert config.load({"SMARTCITY_WEBHOOK_ALLOW_PRIVATE": "true"}).webhook_allow_private
    assert problems({**PRODUCTION, "SMARTCITY_WEBHOOK_ALLOW_PRIVATE": "false"}, "partners") == []
    with pytest.raises(ConfigError, match="SMARTCITY_WEBHOOK_ALLOW_PRIVATE"):
        config.load({"SMARTCITY_WEBHOOK_ALLOW_PRIVATE": "sometimes"})
