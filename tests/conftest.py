"""Shared fixtures: real processes (nats-server, services, gateway) started once per session.

Nothing here fakes the bus or the database: the platform runs as `smartcity up` runs it, on
free loopback ports, with its own data directory.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from runtime import config, natsauth
from runtime.config import Settings
from runtime.launcher import platform_specs, resolve_ports
from runtime.processes import Supervisor
from services.catalog.demo import DEPARTMENT_CODES
from services.identity import demo, totp

DEMO_PASSWORD = "test-demo-password"
# Access tokens live 300 s; a test reuses one for a while rather than signing in each time.
TOKEN_REUSE_SECONDS = 200
BASE_ENV = {
    "SMARTCITY_DATABASE_URL": "",  # the embedded default: SQLite per service
    "SMARTCITY_PRODUCTION": "false",
    "SMARTCITY_DEMO_PASSWORD": DEMO_PASSWORD,
    "SMARTCITY_LOG_LEVEL": "info",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    **{f"SMARTCITY_{name.upper()}_PORT": "0" for name in ("nats", *config.SERVICES, "gateway")},
    # Prometheus endpoints on free ports too: several platforms run at once (runtime.metrics).
    **{f"SMARTCITY_{name.upper()}_METRICS_PORT": "0" for name in (*config.SERVICES, "gateway")},
    **{f"SMARTCITY_{name.upper()}_ADDR": "" for name in config.SERVICES},
    "SMARTCITY_NATS_URL": "",
    "SMARTCITY_ISSUER": "",
    # The tests sign in many times from one address; the limits have tests of their own.
    "SMARTCITY_RATE_LOGIN_PER_CLIENT": "10000/s",
    "SMARTCITY_RATE_LOGIN_PER_ACCOUNT": "10000/s",
    "SMARTCITY_RATE_REGISTER_PER_CLIENT": "10000/s",
    # webhook retries in tenths of seconds, parked after three attempts
    "SMARTCITY_WEBHOOK_RETRY_MS": "100",
    "SMARTCITY_WEBHOOK_ATTEMPTS": "3",
    # the webhook tests' receivers listen on loopback; tests/integration/test_webhook_addresses.py
    # restarts its partners service without this, as production runs it
    "SMARTCITY_WEBHOOK_ALLOW_PRIVATE": "true",
}


# Everything secret or personal the tests send or receive (passwords, tokens, client secrets,
# authorisation codes, identity numbers): none may reach a log line or a span. Searched at the
# end of every session, in the logs and span files of every platform the session started.
SECRETS: set[str] = {DEMO_PASSWORD}
_PLATFORM_DIRS: list[Path] = []


def remember_secret(*values: str) -> None:
    SECRETS.update(v for v in values if v)


def secrets_in_logs(data_dir: Path) -> list[str]:
    """Where a remembered secret appears in a platform's logs or spans (file: secret prefix)."""
    files = [*(data_dir / "logs").glob("*.log"), *(data_dir / "traces").rglob("*.jsonl*")]
    found = []
    for path in files:
        text = path.read_text(errors="replace")
        found += [f"{path.name}: {secret[:12]}..." for secret in SECRETS if secret in text]
    return found


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 15.0, interval: float = 0.1
) -> Any:
    """Poll until `check` returns something truthy; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"not true within {timeout}s; last value: {last!r}")


@dataclass
class Platform:
    """A running platform and a client for its gateway."""

    settings: Settings
    env: dict[str, str]
    supervisor: Supervisor
    http: aiohttp.ClientSession
    _tokens: dict[tuple[str, str, str], tuple[str, float]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port('gateway')}"

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def spec(self, name: str) -> Any:
        return next(s for s in platform_specs(self.settings, self.env) if s.name == name)

    async def nats_as(self, identity: str, **options: Any) -> Any:
        """A NATS connection with the embedded identity of a process or tool (the services',
        the gateway's, `natsauth.OBSERVER`), with that identity's rights and inbox only."""
        return await nats_as(self.settings, identity, **options)

    async def login(
        self,
        username: str,
        password: str = DEMO_PASSWORD,
        *,
        entry: str = "office",
        enterprise_id: str = "",
        totp_secret: str | None = None,
    ) -> str:
        """An access token for the account at an entry point. Demo staff sign in with their
        demo TOTP secret; tokens are reused while fresh, since a TOTP code is good only once."""
        key = (entry, username, enterprise_id)
        cached = self._tokens.get(key)
        if cached is not None and time.monotonic() - cached[1] < TOKEN_REUSE_SECONDS:
            return cached[0]
        body: dict[str, str] = {"username": username, "password": password}
        if enterprise_id:
            body["enterprise_id"] = enterprise_id
        secret = totp_secret or demo.totp_secret(DEMO_PASSWORD, username)
        # A code is good once: if this step's was used, the next step's is accepted too.
        for ahead in (0, 30):
            if entry == "office":
                body["totp_code"] = totp.code_at(secret, time.time() + ahead)
            status, reply, _ = await self.request("POST", f"/{entry}/v1/login", json=body)
            if status != 401 or entry != "office":
                break
        assert status == 200, reply
        token = str(reply["access_token"])
        remember_secret(token, password, str(reply.get("refresh_token", "")))
        self._tokens[key] = (token, time.monotonic())
        return token

    async def until_ready(self, timeout: float = 20.0) -> None:
        """Wait until the gateway reaches every service again: a process a test restarted is
        ready before the gateway's channel to it has reconnected."""

        async def ready() -> bool:
            status, _, _ = await self.request("GET", "/readyz")
            return status == 200

        await eventually(ready, timeout=timeout)

    def forget_tokens(self, entry: str) -> None:
        """Sign in afresh at an entry point (after a test ended the sessions of its tokens)."""
        for key in [k for k in self._tokens if k[0] == entry]:
            del self._tokens[key]

    async def exchange_resources(self, token: str) -> dict[str, Any]:
        """Every resource the exchange knows, by id, following the pages to the end; empty
        while the exchange does not answer."""
        known: dict[str, Any] = {}
        cursor = ""
        while True:
            status, page, _ = await self.request(
                "GET", f"/office/v1/exchange/resources?page_size=100{cursor}", token=token
            )
            if status != 200:
                return known
            known.update({r["resource_id"]: r for r in page["resources"]})
            if not page["next_page_token"]:
                return known
            cursor = f"&page_token={page['next_page_token']}"

    async def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, f"{self.url}{path}", headers=headers, **kwargs) as r:
            if r.content_length == 0:
                body = None
            elif "json" in r.headers.get("Content-Type", "json"):
                body = await r.json(content_type=None)
            else:
                body = await r.read()  # CSV and other exports
            return r.status, body, r.headers


async def audit_records(platform: Platform, token: str, resource_id: str) -> list[dict[str, Any]]:
    """The audit chain's records about one resource, as an auditor reads them."""
    status, page, _ = await platform.request(
        "GET", "/office/v1/audit/records", token=token, params={"resource_id": resource_id}
    )
    assert status == 200, page
    return list(page["records"])


async def revoke_held_licences(
    platform: Platform, licence_type: str, *, holder: str, issuer: str
) -> None:
    """Revoke the holder's licences of a type the law allows one of at a time (valid or
    suspended: those hold their place), so that a test may issue one anew. Tokens of the holder
    (it lists its own) and of the type's issuer."""
    for status in ("valid", "suspended"):
        code, page, _ = await platform.request(
            "GET",
            "/public/v1/licences/mine",
            token=holder,
            params={"licence_type": licence_type, "status": status, "page_size": "100"},
        )
        assert code == 200, page
        for licence in page["licences"]:
            code, body, _ = await platform.request(
                "POST",
                f"/office/v1/licences/{licence['id']}/revoke",
                token=issuer,
                json={"reason": "test: issued anew"},
            )
            assert code == 200, body


async def nats_as(settings: Settings, identity: str, **options: Any) -> Any:
    """A NATS connection as one of a platform's embedded NATS identities."""
    import nats

    seed = natsauth.seed(settings.data_dir / "nats", identity)
    assert seed, f"no embedded NATS identity {identity!r}"
    return await nats.connect(
        natsauth.without_credentials(settings.nats_url),
        nkeys_seed_str=seed,
        inbox_prefix=natsauth.inbox_prefix(identity),
        connect_timeout=5,
        **options,
    )


async def start_platform(
    data_dir: Path, **extra_env: str
) -> tuple[Settings, dict[str, str], Supervisor]:
    """Every process of the platform on free ports, with `extra_env` on top of BASE_ENV."""
    env = {**BASE_ENV, "SMARTCITY_DATA_DIR": str(data_dir), **extra_env}
    env.update(resolve_ports({**os.environ, **env}))
    settings = config.load(env)
    # each process's NATS seed is a secret like any other: never in a log line
    for identity in (*config.SERVICES, "gateway", *natsauth.TOOLS):
        remember_secret(natsauth.seed(settings.data_dir / "nats", identity))
    supervisor = Supervisor(restart=False)
    try:
        for spec in platform_specs(settings, env):
            await supervisor.start(spec)
    except BaseException:
        await supervisor.stop_all()
        raise
    return settings, env, supervisor


@pytest_asyncio.fixture(scope="session")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """The whole platform, shared by the tests that do not break it."""
    settings, env, supervisor = await start_platform(tmp_path_factory.mktemp("platform"))
    _PLATFORM_DIRS.append(settings.data_dir)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        yield Platform(settings, env, supervisor, http)
    await supervisor.stop_all()


@pytest_asyncio.fixture(scope="module")
async def fragile_platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """A platform of its own for the tests that kill its processes."""
    settings, env, supervisor = await start_platform(tmp_path_factory.mktemp("fragile"))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        yield Platform(settings, env, supervisor, http)
    await supervisor.stop_all()


def resource_body(department: str = "psb", **overrides: Any) -> dict[str, Any]:
    """A valid draft of `department` (a conditional share of sensitive data, not open)."""
    body: dict[str, Any] = {
        "name": "机动车登记信息 Motor vehicle registrations",
        "provider_department": department,
        "provider_code": DEPARTMENT_CODES[department],
        "classification": {"category": "3", "item": "01", "sub_item": "001"},
        "summary": "海口市登记的机动车 Vehicles registered in Haikou",
        "format": "database",
        "share_type": "conditional",
        "share_conditions": "traffic management only",
        "share_methods": ["interface"],
        "open_type": "not_open",
        "update_cycle": "daily",
        "data_grade": "sensitive",
        "data_items": [
            {"name": "plate_number", "type": "string", "description": "plate"},
            {"name": "owner_id_number", "type": "string", "personal": True, "grade": "sensitive"},
        ],
    }
    body.update(overrides)
    return body


def open_body(department: str = "hrss", word: str = "", **overrides: Any) -> dict[str, Any]:
    """A resource that may go into the open catalog: public data, no personal items."""
    body = resource_body(
        department,
        name=f"公共停车场泊位信息 Public car park spaces {word}".strip(),
        summary="全市公共停车场的位置和泊位数量, 每日更新. Car parks and their spaces.",
        classification={"category": "2", "item": "05", "sub_item": "003"},
        format="spreadsheet",
        share_type="unconditional",
        share_methods=["file", "interface"],
        open_type="open",
        data_grade="public",
        keywords=["停车场", "交通"],
        data_items=[
            {"name": "停车场名称", "type": "string", "description": "car park name"},
            {"name": "泊位数", "type": "integer", "description": "spaces"},
        ],
    )
    body.pop("share_conditions")
    body.update(overrides)
    return body


async def create(platform: Platform, token: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created, _ = await platform.request(
        "POST", "/office/v1/catalog/resources", token=token, json=body
    )
    assert status == 201, created
    return created


async def act(
    platform: Platform, token: str, resource_id: str, action: str, body: Any = None
) -> tuple[int, Any]:
    kwargs = {} if body is None else {"json": body}
    status, answer, _ = await platform.request(
        "POST", f"/office/v1/catalog/resources/{resource_id}/{action}", token=token, **kwargs
    )
    return status, answer


async def publish(
    platform: Platform, body: dict[str, Any], *, share: bool = True, open_: bool = True
) -> dict[str, Any]:
    """Through the whole lifecycle: the department registers and submits, the Bureau confirms
    and publishes."""
    department = body["provider_department"]
    officer = await platform.login(f"{department}.officer")
    bureau = await platform.login("bdb.admin")
    created = await create(platform, officer, body)
    assert (await act(platform, officer, created["id"], "submit"))[0] == 200
    assert (await act(platform, bureau, created["id"], "confirm"))[0] == 200
    status, published = await act(
        platform,
        bureau,
        created["id"],
        "publish",
        {"share_catalog": share, "open_catalog": open_},
    )
    assert status == 200, published
    return published  # type: ignore[no-any-return]


# --- a NATS server of the tests' own, and the databases the store tests run on ---------------

POSTGRES_URL = os.environ.get(
    "SMARTCITY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@dataclass
class NatsServer:
    supervisor: Supervisor
    spec: Any
    port: int
    url: str
    # the tests' own user, with every right (this server is not a platform's); the platform's
    # identities are there too (`settings.data_dir / "nats"`, runtime.natsauth)
    seed: str
    settings: Settings

    async def connect(self, **options: Any) -> Any:
        import nats

        return await nats.connect(self.url, nkeys_seed_str=self.seed, **options)

    def kill(self) -> None:
        self.supervisor.kill("nats")

    async def restart(self) -> None:
        await self.supervisor.wait_exit("nats")
        await self.supervisor.start(self.spec)


@pytest_asyncio.fixture(scope="session")
async def nats_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    """A real nats-server with JetStream on a free port, with its own store."""
    data_dir = tmp_path_factory.mktemp("nats")
    env = {**BASE_ENV, "SMARTCITY_DATA_DIR": str(data_dir)}
    env.update(resolve_ports({**os.environ, **env}))
    settings = config.load(env)
    spec = next(s for s in platform_specs(settings, env) if s.name == "nats")
    seed, public_key = natsauth.new_identity()
    auth = settings.nats_auth_file
    everyone = natsauth.User("the tests' own user: every right", public_key, {})
    natsauth.update(auth, platform=[*natsauth.load_users(auth)["platform"], everyone])
    supervisor = Supervisor()
    await supervisor.start(spec)
    yield NatsServer(supervisor, spec, settings.port("nats"), settings.nats_url, seed, settings)
    await supervisor.stop_all()


async def _postgres_reachable() -> str | None:
    """None when PostgreSQL answers; otherwise why not."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(POSTGRES_URL)
    try:
        async with asyncio.timeout(3):
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    finally:
        await engine.dispose()
    return None


_postgres_state: dict[str, str | None] = {}


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each store test runs on SQLite, and on PostgreSQL when it is reachable (else skipped,
    saying so)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    if "why" not in _postgres_state:
        _postgres_state["why"] = await _postgres_reachable()
    if _postgres_state["why"] is not None:
        pytest.skip(
            f"PostgreSQL not reachable, store tests ran on SQLite only ({_postgres_state['why']})"
        )
    yield POSTGRES_URL


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The logs of the full run hold no secret the tests remembered; else the run fails."""
    found = [hit for data_dir in _PLATFORM_DIRS for hit in secrets_in_logs(data_dir)]
    if found:
        _leaks.extend(found)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_leaks: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _leaks:
        terminalreporter.write_line(f"SECRETS IN LOGS: {_leaks[:10]}", red=True)
    why = _postgres_state.get("why", "unknown")
    if "why" in _postgres_state:
        if why is None:
            terminalreporter.write_line("store tests ran on SQLite and on PostgreSQL")
        else:
            terminalreporter.write_line(f"store tests ran on SQLite only: PostgreSQL {why}")
