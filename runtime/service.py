"""The life of a service process, the same for every service.

Configure logs and tracing, open and migrate the database, start the gRPC server (health,
reflection, tracing, auth), run the bus (outbox relay and consumers) in the background so that
writes are accepted even while NATS is down, and stop gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import grpc
from grpc_health.v1.health import aio as health_aio
from sqlalchemy.exc import SQLAlchemyError

from runtime import (
    audit,
    command_line,
    config,
    entrypoint,
    faults,
    grpcclient,
    logs,
    loop,
    metrics,
    natsauth,
    service_credentials,
    service_registry,
    telemetry,
)
from runtime.auth import KEY_ROTATED_SUBJECT, JwksFetcher, Policy, Principal, TokenVerifier
from runtime.bus import consumer as bus_consumer
from runtime.bus import nats as bus_nats
from runtime.bus import outbox as bus_outbox
from runtime.bus.consumer import Consumer, Subscription
from runtime.bus.outbox import OutboxRelay
from runtime.config import Settings
from runtime.grpcserver import add_health_and_reflection, create_server
from runtime.revocation import EndedSessions, Feed, from_identity
from runtime.service_credentials import Login, ServiceCredentials
from runtime.service_registry import ServiceSpec
from runtime.storage import Database, Migration
from runtime.unit_of_work import UnitOfWork, unit_of_work

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from smartcity.identity.v1 import identity_pb2_grpc

log = logs.get(__name__)


@dataclass
class ServiceRuntime:
    """What a running service's servicers and handlers may use."""

    name: str
    settings: Settings
    db: Database
    verifier: TokenVerifier
    relay: OutboxRelay | None = None
    consumers: list[Consumer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # The service's own identity for calls it makes for itself (None: no secret configured).
    credentials: ServiceCredentials | None = None
    # NATS core subjects the service follows besides identity's (subject -> handler).
    signals: dict[str, Callable[[bytes], Awaitable[None]]] = field(default_factory=dict)
    # Work that needs JetStream itself (given the context), run while the bus is connected and
    # started again on each reconnection, like the consumers.
    bus_work: list[Callable[[JetStreamContext], Awaitable[None]]] = field(default_factory=list)
    # Set when the service begins to stop: long-lived streams end then, rather than hold the
    # server's graceful stop for its whole grace period.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def background(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run `work` until the service stops."""
        self.tasks.append(asyncio.create_task(work, name=name))

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """`async with rt.unit_of_work() as uow:` one transaction for a change, its events and
        its audit records, after which the relay publishes the events (runtime.unit_of_work)."""
        return unit_of_work(self.db, service=self.name, committed=self._wake_relay)

    def _wake_relay(self) -> None:
        """After a commit: the relay publishes what it enqueued now, not at its next poll."""
        if self.relay is not None:
            self.relay.notify()

    async def audit_denied(
        self, *, action: str, principal: Principal | None, resource_type: str, resource_id: str
    ) -> None:
        """Record a refusal in a transaction of its own (the refused action has none); the
        refusal stands even if the record cannot be written."""
        try:
            async with self.unit_of_work() as uow:
                await uow.audit(
                    action,
                    principal=principal,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    outcome=audit.DENIED,
                )
        except Exception as exc:
            log.warning("denial_not_audited", action=action, error=type(exc).__name__)


@dataclass(frozen=True, kw_only=True)
class ServiceCommand:
    """A one-off task that `python -m services.<name> COMMAND ARGUMENT` runs instead of the
    service, e.g. identity's `create-admin USERNAME`; returns the exit status."""

    help: str
    argument: str  # the one positional argument's name, as usage shows it
    run: Callable[[str], Coroutine[Any, Any, int]]


@dataclass(frozen=True, kw_only=True)
class ServiceDefinition:
    """Everything that makes one service different from another."""

    name: str  # its line in the service registry (runtime.service_registry)
    migrations: Sequence[Migration]
    # The implementation of the service's gRPC API, made once the runtime is ready; the server
    # registers it as the registry's line says (the generated `add_*Servicer_to_server`).
    servicer: Callable[[ServiceRuntime], object]
    policies: Mapping[str, Policy]
    publishes: bool = False
    subscriptions: Sequence[Subscription[Any]] = ()
    # How the service obtains the JWKS; by default over gRPC from the identity service.
    jwks_fetcher: Callable[[Database], JwksFetcher] | None = None
    # Where the service's verifier hears which sessions have ended; by default identity's feed
    # over gRPC (runtime.revocation).
    ended_sessions: Callable[[Database], Feed] | None = None
    on_start: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    # Called when identity announces a new signing key, after the verifier has refreshed.
    on_key_rotation: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    # One-off tasks run instead of the service, by name (`python -m services.<name> --help`).
    commands: Mapping[str, ServiceCommand] = field(default_factory=dict)

    @property
    def spec(self) -> ServiceSpec:
        return service_registry.spec(self.name)

    @property
    def grpc_services(self) -> tuple[str, ...]:
        """Full names of the gRPC services it serves, for health and reflection."""
        return (self.spec.grpc_service,)


def identity_client(
    settings: Settings,
) -> tuple[JwksFetcher, Login, Callable[[], identity_pb2_grpc.IdentityServiceAsyncStub]]:
    """Fetch the JWKS from the identity service, and sign in as a service client, over one
    long-lived channel; the stub, for other calls to identity."""
    from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc

    channel: grpc.aio.Channel | None = None

    def stub() -> identity_pb2_grpc.IdentityServiceAsyncStub:
        nonlocal channel
        if channel is None:
            channel = grpcclient.channel(settings.grpc_target("identity"))
        # the generated constructor gives the asynchronous stub for an asyncio channel
        return cast(
            "identity_pb2_grpc.IdentityServiceAsyncStub",
            identity_pb2_grpc.IdentityServiceStub(channel),
        )

    async def fetch() -> str:
        response = await grpcclient.call(stub().GetJwks, identity_pb2.GetJwksRequest(), timeout=3.0)
        return str(response.jwks_json)

    async def login(client_id: str, secret: str) -> tuple[str, int]:
        request = identity_pb2.LoginRequest(username=client_id, password=secret, audience="service")
        response = await grpcclient.call(stub().Login, request, timeout=5.0)
        return str(response.access_token), int(response.expires_in)

    return fetch, login, stub


async def _run_bus(rt: ServiceRuntime, definition: ServiceDefinition) -> None:
    """Connect to NATS (retrying forever), keep the relay and consumers running, and follow
    identity's key rotations and ended sessions (every service verifies tokens)."""

    handlers = {**rt.signals, **rt.verifier.signal_handlers()}
    refresh_keys = handlers[KEY_ROTATED_SUBJECT]

    async def key_rotated(data: bytes) -> None:
        await refresh_keys(data)
        if definition.on_key_rotation is not None:
            await definition.on_key_rotation(rt)

    handlers[KEY_ROTATED_SUBJECT] = key_rotated

    backoff = 0.2
    while True:
        nc = None
        try:
            nc = await bus_nats.connect(
                rt.settings.nats_url,
                name=f"smartcity-{rt.name}",
                seed=rt.settings.nats_seed,
                inbox_prefix=natsauth.inbox_prefix(rt.name),
            )
            js = nc.jetstream()
            # Its own stream only; a consumer waits for its owner to create another's.
            streams = [rt.name] if definition.publishes else []
            for service in streams:
                await bus_nats.ensure_stream(js, service, replicas=rt.settings.stream_replicas)
            await bus_nats.follow(nc, handlers)
            log.info("bus_connected", streams=sorted(streams))
            backoff = 0.2
            tasks = [c.run(js) for c in rt.consumers] + [work(js) for work in rt.bus_work]
            if rt.relay is not None:
                tasks.append(rt.relay.run(js))
            await asyncio.gather(*tasks, asyncio.Event().wait())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("bus_unavailable", error=type(exc).__name__, retry_in=backoff)
        finally:
            if nc is not None:
                # Bounded: with the server gone, a close must not hold up the shutdown.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), timeout=2.0)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


async def serve(definition: ServiceDefinition, settings: Settings | None = None) -> None:
    """Run the service until SIGTERM or SIGINT. Whatever it opens is closed in reverse order
    when it stops, and also when its start fails half-way (an exit stack)."""
    settings = settings or config.load()
    name = definition.name
    config.check_production(settings, process=name)  # before any database or network
    injected = faults.load()  # SMARTCITY_FAULTS: none unless an SRE rehearses an incident
    logs.configure(service=name, level=settings.log_level)
    async with contextlib.AsyncExitStack() as opened:
        opened.callback(telemetry.configure(service=name, settings=settings).shutdown)
        opened.callback(metrics.configure(service=name, settings=settings).shutdown)
        rt = await _open_runtime(definition, settings, opened, injected=injected)
        server = create_server(
            policies=definition.policies, verifier=rt.verifier, service=name, faults=injected
        )
        definition.spec.add_servicer(definition.servicer(rt), server)
        health = await add_health_and_reflection(server, definition.grpc_services)
        bind = settings.bind_address
        port = server.add_insecure_port(f"{bind}:{settings.port(name)}")
        if port == 0:
            raise RuntimeError(f"cannot listen on {bind}:{settings.port(name)}: the port is taken")
        # Before serving: a service answers only once its keys and data are in place.
        if definition.on_start is not None:
            await definition.on_start(rt)
        rt.background(rt.verifier.sessions.follow(), name=f"{name}-ended-sessions")
        await server.start()
        bus = asyncio.create_task(_run_bus(rt, definition), name=f"{name}-bus")
        opened.push_async_callback(_cancel, [bus])
        opened.push_async_callback(_stop_serving, rt, health, server)
        loop.settle_heap()
        log.info("service_started", port=port, database=rt.db.backend, demo=settings.demo)

        await loop.stop_event().wait()
        log.info("service_stopping")
    log.info("service_stopped")


async def _open_runtime(
    definition: ServiceDefinition,
    settings: Settings,
    opened: contextlib.AsyncExitStack,
    *,
    injected: faults.Faults,
) -> ServiceRuntime:
    """The service's database (migrated), token verifier, relay and consumers; closed by
    `opened`, with the runtime's background tasks, when the service stops."""
    name = definition.name
    db = Database(settings.database_url_for(name), service=name)
    opened.push_async_callback(db.close)
    migrations = list(definition.migrations)
    if definition.publishes:
        migrations = [*bus_outbox.MIGRATIONS, *migrations]
    if definition.subscriptions:
        migrations = [*bus_consumer.MIGRATIONS, *migrations]
    await db.migrate(migrations)

    remote_jwks, login, identity = identity_client(settings)
    fetcher = definition.jwks_fetcher(db) if definition.jwks_fetcher else remote_jwks
    secret = service_credentials.secret_for(settings, name)
    credentials = ServiceCredentials(service=name, secret=secret, login=login) if secret else None
    ended = definition.ended_sessions(db) if definition.ended_sessions else from_identity(identity)
    sessions = EndedSessions(ended, stale_seconds=settings.revocation_stale_ms / 1000)
    verifier = TokenVerifier(fetcher, issuer=settings.issuer, sessions=sessions)
    rt = ServiceRuntime(
        name=name, settings=settings, db=db, verifier=verifier, credentials=credentials
    )
    opened.push_async_callback(_cancel, rt.tasks)
    if definition.publishes:
        rt.relay = OutboxRelay(
            db, source=f"/smartcity/{name}", stall_seconds=injected.nats_stall_seconds
        )
        rt.background(rt.relay.watch_backlog(), name=f"{name}-outbox-backlog")
    rt.consumers = [Consumer(db, s) for s in definition.subscriptions]
    return rt


async def _stop_serving(
    rt: ServiceRuntime, health: health_aio.HealthServicer, server: grpc.aio.Server
) -> None:
    """Stop answering: long-lived streams end, probes hear NOT_SERVING, calls in flight get
    up to five seconds."""
    rt.stopping.set()
    await health.enter_graceful_shutdown()
    await server.stop(grace=5.0)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background tasks and wait for each to end."""
    for task in list(tasks):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def run(definition: ServiceDefinition, argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m services.<name>`: `--help` says what it runs and exits before
    anything starts; a configuration error is a message and exit code 2, not a traceback."""
    name = definition.name
    parser = entrypoint.parser(
        name,
        prog=f"python -m services.{name}",
        description=(
            f"Run the {name} service alone: its gRPC server, its own database and its events "
            "(`smartcity up` runs it with every other process of the platform)."
        ),
    )
    if definition.commands:
        choices = " | ".join(f"{n} {c.argument}" for n, c in definition.commands.items())
        parser.usage = f"%(prog)s [-h] [{choices}]"
        commands = parser.add_subparsers(
            dest="command", metavar="COMMAND", help="instead of running the service:"
        )
        for command_name, command in definition.commands.items():
            sub = commands.add_parser(command_name, help=command.help, description=command.help)
            sub.add_argument("argument", metavar=command.argument)
    args = parser.parse_args(argv)
    chosen = definition.commands.get(getattr(args, "command", None) or "")
    try:
        if chosen is not None:
            raise SystemExit(_run_command(chosen, f"{parser.prog} {args.command}", args.argument))
        loop.run(serve(definition))
    except config.ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def _run_command(command: ServiceCommand, title: str, argument: str) -> int:
    """A one-off task's exit status; a database it cannot use is one line, not a traceback."""
    try:
        return loop.run(command.run(argument))
    except (SQLAlchemyError, OSError) as exc:
        print(f"{title}: cannot use the database: {command_line.reason(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # at a password prompt
        return 130
