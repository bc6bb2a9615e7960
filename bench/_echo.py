"""Bare gRPC echo servicer ``/bench.Echo/Echo`` on raw bytes, without generated code.

Run as ``python -m bench._echo --port P``.
"""

from __future__ import annotations

import argparse

import grpc
import uvloop

from bench._common import identity, wait_for_stop_signal


async def _echo(request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _serve(port: int) -> None:
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                _echo, request_deserializer=identity, response_serializer=identity
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise SystemExit(f"echo: cannot bind 127.0.0.1:{port}")
    await server.start()
    try:
        await wait_for_stop_signal()
    finally:
        await server.stop(grace=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(_serve(args.port))


if __name__ == "__main__":
    main()
