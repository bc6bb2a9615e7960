"""Baseline "hop": an aiohttp handler making one grpc.aio call to the echo servicer.

The JSON body goes through the echo and the echoed bytes are the response, so this
measures the cost of one gateway -> service hop and nothing else.

Run as ``python -m bench._hop --port P --echo-port E --body-file F [--content-type CT]``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import grpc
import uvloop
from aiohttp import web

from bench._common import identity, wait_for_stop_signal

_CHANNEL_READY_TIMEOUT_S = 15.0
_CALL_TIMEOUT_S = 10.0


async def _serve(port: int, echo_port: int, body: bytes, content_type: str) -> None:
    # One channel for the process lifetime, created inside the running (uv)loop.
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}")
    try:
        await asyncio.wait_for(channel.channel_ready(), _CHANNEL_READY_TIMEOUT_S)
        echo = channel.unary_unary(
            "/bench.Echo/Echo", request_serializer=identity, response_deserializer=identity
        )

        async def handle(_request: web.Request) -> web.Response:
            reply: bytes = await echo(body, timeout=_CALL_TIMEOUT_S)
            return web.Response(body=reply, headers={"Content-Type": content_type})

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await wait_for_stop_signal()
        finally:
            await runner.cleanup()
    finally:
        await channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--echo-port", type=int, required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--content-type", default="application/json")
    args = parser.parse_args()
    uvloop.run(_serve(args.port, args.echo_port, args.body_file.read_bytes(), args.content_type))


if __name__ == "__main__":
    main()
