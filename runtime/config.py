"""Configuration from `SMARTCITY_*` environment variables.

Every default makes the embedded single-machine mode work with no configuration at all: data
under `./var`, SQLite per service, an embedded NATS on its own port, demo accounts. Production
mode refuses those defaults at startup (`check_production`), naming what to set instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runtime import service_registry

# The services, their ports and traits, as the service registry lists them (one line each there,
# runtime.service_registry); these are the platform's own, read when this module is imported.
SERVICES: tuple[str, ...] = service_registry.names()
# The processes that may sign in to identity as service clients named after themselves, for the
# calls they make as themselves: the services (the gateway needs none: identity's feed of ended
# sessions asks for no credentials, runtime.revocation).
PLATFORM_CLIENTS: tuple[str, ...] = SERVICES

NATS_PORT = 14222
GATEWAY_PORT = 8080
# Where the gateway serves its Prometheus metrics: never on its public port.
GATEWAY_METRICS_PORT = 9460


def default_ports() -> dict[str, int]:
    """Each process's default port: NATS, every registered service, the gateway."""
    services = {s.name: s.port for s in service_registry.specs()}
    return {"nats": NATS_PORT, **services, "gateway": GATEWAY_PORT}


def default_metrics_ports() -> dict[str, int]:
    """Where each process serves its Prometheus metrics (`SMARTCITY_<NAME>_METRICS_PORT`; 0: a
    free one, logged as `metrics_serving`)."""
    services = {s.name: s.metrics_port for s in service_registry.specs()}
    return {**services, "gateway": GATEWAY_METRICS_PORT}


DEFAULT_PORTS: Mapping[str, int] = default_ports()
DEFAULT_METRICS_PORTS: Mapping[str, int] = default_metrics_ports()

# Which processes need which settings in production (the registry's traits).
# They seal data at rest under the master key (runtime.crypto.master_key).
SEALS_DATA: frozenset[str] = frozenset(s.name for s in service_registry.SERVICES if s.seals_data)
# They call other services as themselves (ServiceRuntime.credentials); hearing identity's feed
# of ended sessions needs no credentials.
CALLS_AS_ITSELF: frozenset[str] = frozenset(
    s.name for s in service_registry.SERVICES if s.calls_as_itself
)

# Master keys that appear in documentation and tests: whoever copies one shares the key.
EXAMPLE_MASTER_KEYS: frozenset[str] = frozenset(
    {
        "00112233445566778899aabbccddeeff",
        "ffeeddccbbaa99887766554433221100",
        "0123456789abcdef0123456789abcdef",
    }
)
PRODUCTION_MIN_REPLICAS = 3
MAX_STREAM_REPLICAS = 5


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which variable to set."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _at_least_zero(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more, got {value}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int(env, name, default)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name} must be a port between 0 and 65535 (0: pick a free one)")
    return port


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _bounded(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    value = _int(env, name, default)
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _embedded_nats_url(port: int) -> str:
    return f"nats://127.0.0.1:{port}"


def _issuer(env: Mapping[str, str], gateway_port: int) -> str:
    issuer = env.get("SMARTCITY_ISSUER") or f"http://localhost:{gateway_port}"
    if not issuer.startswith(("https://", "http://")) or issuer.endswith("/"):
        raise ConfigError(
            f"SMARTCITY_ISSUER must be the gateway's public URL without a trailing slash, "
            f"got {issuer!r}"
        )
    return issuer


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a process of the platform reads from its environment."""

    data_dir: Path
    nats_url: str
    database_url: str | None
    production: bool
    demo: bool
    demo_password: str
    master_key: str | None
    log_level: str
    otlp_endpoint: str | None
    bind_address: str = "127.0.0.1"
    # The `iss` of access tokens and the base of the OpenID Connect discovery document: the
    # gateway's public URL.
    issuer: str = "http://localhost:8080"
    # Identity starts signing with a new key this often (and on demand).
    key_rotation_hours: int = 24
    # This service's client secret, for calls it makes for itself (runtime.service_credentials).
    service_secret: str | None = None
    # The gateway's key for what it signs and checks itself (the sign-in pages' CSRF tokens):
    # every replica behind one address needs the same one; unset, each process draws its own.
    gateway_secret: str | None = None
    # This process's own NATS identity: the seed of its NKEY (runtime/natsauth.py). Its rights on
    # the bus are its own; the embedded mode makes one per process.
    nats_seed: str | None = None
    # How long a replica may answer a repeated catalog search from memory (near-real-time
    # search, as a search engine's refresh interval); 0 turns the cache off.
    search_cache_ms: int = 1000
    # How long a verifier trusts its list of ended sessions without hearing identity's heartbeat;
    # after that it asks identity before it accepts a session's token (runtime.revocation).
    revocation_stale_ms: int = 1500
    # How long the exchange keeps the evidence of each query.
    evidence_retention_days: int = 180
    # Webhook deliveries: the first retry's delay (doubling after each failure), and how many
    # attempts before a delivery is parked.
    webhook_retry_ms: int = 1000
    webhook_attempts: int = 8
    # Webhooks to private, loopback and other non-public addresses, and plain http: for local
    # testing only (a receiver on this machine); refused in production.
    webhook_allow_private: bool = False
    # The NATS authorization file the partners service writes for the partners' NKEYs, and the
    # NATS server's pid file, to tell it to reload (the embedded mode's; empty: not managed).
    nats_auth_file: str = ""
    nats_pid_file: str = ""
    # How many servers of the JetStream cluster hold a copy of each stream.
    stream_replicas: int = 1
    # The demo variables the environment set (production refuses them: no demo accounts there).
    demo_variables: tuple[str, ...] = ()
    # Failure injection for rehearsals (runtime.faults reads it); refused in production.
    faults: str = ""
    # A JSON file naming other platforms' licence issuers this platform trusts (their SM2 keys,
    # their platform's keys, their issuer codes); empty: none. The licences service checks it
    # at start (services.licences.external) and publishes them in its trust list.
    licence_trusted_issuers: str = ""
    ports: Mapping[str, int] = field(default_factory=dict)
    hosts: Mapping[str, str] = field(default_factory=dict)
    # Prometheus exposition per process (`SMARTCITY_METRICS=false`: none; OTLP is separate).
    metrics: bool = True
    metrics_ports: Mapping[str, int] = field(default_factory=dict)

    def port(self, name: str) -> int:
        return self.ports[name]

    def metrics_port(self, name: str) -> int:
        if name in self.metrics_ports:
            return self.metrics_ports[name]
        return default_metrics_ports()[name]

    def grpc_target(self, service: str) -> str:
        """Where a service's gRPC server listens (`SMARTCITY_<NAME>_ADDR` overrides)."""
        return self.hosts.get(service) or f"127.0.0.1:{self.ports[service]}"

    def database_url_for(self, service: str) -> str:
        """Each service owns its database: a SQLite file each, or its own PostgreSQL schema."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / service / f'{service}.db'}"

    @property
    def traces_dir(self) -> Path:
        return self.data_dir / "traces"


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; raise ConfigError naming the variable when one is malformed."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("SMARTCITY_DATA_DIR") or "var").resolve()
    ports = {
        name: _port(env, f"SMARTCITY_{name.upper()}_PORT", p) for name, p in default_ports().items()
    }
    hosts = {
        name: env[f"SMARTCITY_{name.upper()}_ADDR"]
        for name in service_registry.names()
        if env.get(f"SMARTCITY_{name.upper()}_ADDR")
    }
    database_url = env.get("SMARTCITY_DATABASE_URL") or None
    production = _bool(env, "SMARTCITY_PRODUCTION", False)
    # Demo accounts exist only in the embedded mode: never in production, never on PostgreSQL.
    demo_default = not production and database_url is None
    demo = _bool(env, "SMARTCITY_DEMO", demo_default) and demo_default
    demo_variables = tuple(
        name
        for name, given in (
            ("SMARTCITY_DEMO", _bool(env, "SMARTCITY_DEMO", False)),
            ("SMARTCITY_DEMO_PASSWORD", bool(env.get("SMARTCITY_DEMO_PASSWORD"))),
        )
        if given
    )
    level = (env.get("SMARTCITY_LOG_LEVEL") or "info").lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ConfigError(
            f"SMARTCITY_LOG_LEVEL must be debug, info, warning or error, got {level!r}"
        )
    return Settings(
        data_dir=data_dir,
        nats_url=env.get("SMARTCITY_NATS_URL") or _embedded_nats_url(ports["nats"]),
        database_url=database_url,
        production=production,
        demo=demo,
        demo_password=env.get("SMARTCITY_DEMO_PASSWORD") or "smartcity-demo",
        master_key=env.get("SMARTCITY_MASTER_KEY") or None,
        log_level=level,
        otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        # Loopback unless a deployment opens it up (containers set 0.0.0.0).
        bind_address=env.get("SMARTCITY_BIND") or "127.0.0.1",
        issuer=_issuer(env, ports["gateway"]),
        key_rotation_hours=_positive(env, "SMARTCITY_KEY_ROTATION_HOURS", 24),
        service_secret=env.get("SMARTCITY_SERVICE_SECRET") or None,
        nats_seed=env.get("SMARTCITY_NATS_SEED") or None,
        gateway_secret=env.get("SMARTCITY_GATEWAY_SECRET") or None,
        search_cache_ms=_at_least_zero(env, "SMARTCITY_SEARCH_CACHE_MS", 1000),
        revocation_stale_ms=_positive(env, "SMARTCITY_REVOCATION_STALE_MS", 1500),
        evidence_retention_days=_positive(env, "SMARTCITY_EVIDENCE_RETENTION_DAYS", 180),
        webhook_retry_ms=_positive(env, "SMARTCITY_WEBHOOK_RETRY_MS", 1000),
        webhook_attempts=_positive(env, "SMARTCITY_WEBHOOK_ATTEMPTS", 8),
        webhook_allow_private=_bool(env, "SMARTCITY_WEBHOOK_ALLOW_PRIVATE", False),
        nats_auth_file=env.get("SMARTCITY_NATS_AUTH_FILE") or "",
        nats_pid_file=env.get("SMARTCITY_NATS_PID_FILE") or "",
        stream_replicas=_bounded(
            env, "SMARTCITY_STREAM_REPLICAS", 1, low=1, high=MAX_STREAM_REPLICAS
        ),
        demo_variables=demo_variables,
        faults=env.get("SMARTCITY_FAULTS") or "",
        licence_trusted_issuers=env.get("SMARTCITY_LICENCE_TRUSTED_ISSUERS") or "",
        ports=ports,
        hosts=hosts,
        metrics=_bool(env, "SMARTCITY_METRICS", True),
        metrics_ports={
            name: _port(env, f"SMARTCITY_{name.upper()}_METRICS_PORT", p)
            for name, p in default_metrics_ports().items()
        },
    )


def check_production(settings: Settings, *, process: str) -> None:
    """In production mode, refuse what only the embedded mode may use: raise one ConfigError
    with a line per problem, each naming the variable to set. Outside production: nothing."""
    if not settings.production:
        return
    problems = [f"production mode: {process}: {p}" for p in _production_problems(settings, process)]
    if problems:
        raise ConfigError("\n".join(problems))


def _production_problems(settings: Settings, process: str) -> list[str]:
    """What `process` (a service's name, or "gateway") lacks for production, in words."""
    service = process in service_registry.names()
    problems: list[str] = []
    if service and (settings.database_url or "sqlite").startswith("sqlite"):
        problems.append(
            "set SMARTCITY_DATABASE_URL to a postgresql+asyncpg:// URL (SQLite is for the "
            "embedded mode only)"
        )
    if settings.faults:
        problems.append("unset SMARTCITY_FAULTS (failure injection is for rehearsals)")
    if settings.webhook_allow_private:
        problems.append(
            "unset SMARTCITY_WEBHOOK_ALLOW_PRIVATE (webhooks to private addresses and plain http "
            "are for local testing)"
        )
    if settings.demo or settings.demo_variables:
        given = " and ".join(settings.demo_variables) or "SMARTCITY_DEMO"
        problems.append(f"unset {given} (demo accounts never exist in production)")
    if (
        service
        and service_registry.spec(process).seals_data
        and not _usable_master_key(settings.master_key)
    ):
        problems.append("set SMARTCITY_MASTER_KEY (32 hex digits, not a known example)")
    if service and settings.stream_replicas < PRODUCTION_MIN_REPLICAS:
        problems.append(
            f"set SMARTCITY_STREAM_REPLICAS={PRODUCTION_MIN_REPLICAS} (a replicated JetStream "
            f"cluster; now {settings.stream_replicas})"
        )
    if not settings.issuer.startswith("https://"):
        problems.append(
            f"set SMARTCITY_ISSUER to the gateway's public https:// URL (tokens' issuer; now "
            f"{settings.issuer})"
        )
    if settings.nats_url == _embedded_nats_url(settings.ports.get("nats", NATS_PORT)):
        problems.append("set SMARTCITY_NATS_URL (the default is the embedded NATS server)")
    if not settings.nats_seed:
        problems.append(
            "set SMARTCITY_NATS_SEED (this process's own NATS NKEY seed; the NATS server gives its "
            "public key this process's rights: deploy/README.md)"
        )
    if process == "gateway" and len(settings.gateway_secret or "") < 32:
        problems.append(
            "set SMARTCITY_GATEWAY_SECRET (at least 32 random characters, the same for every "
            "gateway replica: it signs the sign-in pages' CSRF tokens)"
        )
    if service and service_registry.spec(process).calls_as_itself and not settings.service_secret:
        problems.append(
            f"set SMARTCITY_SERVICE_SECRET (the secret of the service client {process!r}; "
            f"create it with POST /office/v1/clients, kind service)"
        )
    return problems


def _usable_master_key(raw: str | None) -> bool:
    """32 hex digits, not all alike (fewer than 8 distinct digits), not a documented example."""
    key = (raw or "").lower()
    return (
        re.fullmatch(r"[0-9a-f]{32}", key) is not None
        and len(set(key)) >= 8
        and key not in EXAMPLE_MASTER_KEYS
    )
