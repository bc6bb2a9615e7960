"""Run the gateway: `python -m gateway` (127.0.0.1:8080 unless SMARTCITY_GATEWAY_PORT says)."""

from __future__ import annotations

import sys

from aiohttp import web

from gateway import connection
from gateway.app import create_app
from runtime import config, entrypoint, logs, loop, telemetry

log = logs.get(__name__)


async def serve() -> None:
    settings = config.load()
    config.check_production(settings, process="gateway")  # before any network
    logs.configure(service="gateway", level=settings.log_level)
    provider = telemetry.configure(service="gateway", settings=settings)
    app = create_app(settings)
    runner = connection.Runner(app, access_log=None, handle_signals=False)
    await runner.setup()
    port = settings.port("gateway")
    site = web.TCPSite(runner, settings.bind_address, port, backlog=1024)
    await site.start()
    log.info("gateway_started", port=port)
    loop.settle_heap()
    await loop.stop_event().wait()
    log.info("gateway_stopping")
    await runner.cleanup()
    provider.shutdown()


if __name__ == "__main__":
    entrypoint.parser("gateway", prog="python -m gateway", description=__doc__).parse_args()
    try:
        loop.run(serve())
    except config.ConfigError as exc:  # a message and exit code 2, not a traceback
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
