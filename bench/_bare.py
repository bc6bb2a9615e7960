"""Baseline "bare": an aiohttp handler that returns a fixed JSON body (no auth, no hop), to
any GET, and to any POST once its body is read.

Run as ``python -m bench._bare --port P --body-file F [--content-type CT]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvloop
from aiohttp import web

from bench._common import wait_for_stop_signal


async def _serve(port: int, body: bytes, content_type: str) -> None:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def handle_post(request: web.Request) -> web.Response:
        await request.read()  # the request body is read, as any real handler would
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    app.router.add_post("/{tail:.*}", handle_post)
    # No access log: the baseline is the bare cost of aiohttp answering.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await wait_for_stop_signal()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--content-type", default="application/json")
    args = parser.parse_args()
    uvloop.run(_serve(args.port, args.body_file.read_bytes(), args.content_type))


if __name__ == "__main__":
    main()
